// ca/certificate_facts.h — what the store records of a signed certificate, read off it once.
#pragma once

#include <botan/x509cert.h>

#include <string>

#include "ca/certificate_signer.h"
#include "ca/clock.h"
#include "ca/profile.h"
#include "store/records.h"

namespace edgeca::ca {

// The record of a freshly signed certificate: serial, subject, CN, SPKI and certificate
// SHA-256, dates and DER. The device binding is the caller's to add.
store::CertificateRecord record_of(const Botan::X509_Certificate& certificate, Profile profile,
                                   const std::string& requester, Time issued_at);

// The same record, from the content a certificate was just signed with and its DER
// (sign_certificate_der): nothing is parsed back, the facts are the ones that were encoded.
store::CertificateRecord record_of(const CertificateContent& content, std::vector<uint8_t> der,
                                   Profile profile, const std::string& requester, Time issued_at);

// "2026-11-25T13:14:15Z"
std::string to_rfc3339(Time t);

Time to_time(const Botan::X509_Time& t);

}  // namespace edgeca::ca
