// ca/certificate_facts.cpp — reading the recorded facts off a certificate.
#include "ca/certificate_facts.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/serial_number.h"

namespace edgeca::ca {

Time to_time(const Botan::X509_Time& t) {
    return std::chrono::sys_seconds(std::chrono::seconds(t.time_since_epoch()));
}

std::string to_rfc3339(Time t) { return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", t); }

store::CertificateRecord record_of(const Botan::X509_Certificate& certificate, Profile profile,
                                   const std::string& requester, Time issued_at) {
    store::CertificateRecord record;
    record.serial = SerialNumber::from_bytes(certificate.serial_number()).bytes();
    record.profile = std::string(to_string(profile));
    record.subject = to_rfc4514(certificate.subject_dn());
    record.common_name = common_name_of(certificate.subject_dn());
    record.spki_sha256 = sha256_hex(certificate.subject_public_key_info());
    record.der = certificate.BER_encode();
    record.fingerprint_sha256 = sha256_hex(record.der);
    record.not_before = to_time(certificate.not_before());
    record.not_after = to_time(certificate.not_after());
    record.issued_at = issued_at;
    record.requester = requester;
    return record;
}

store::CertificateRecord record_of(const CertificateContent& content, std::vector<uint8_t> der,
                                   Profile profile, const std::string& requester, Time issued_at) {
    store::CertificateRecord record;
    record.serial = content.serial.bytes();
    record.profile = std::string(to_string(profile));
    record.subject = to_rfc4514(content.subject);
    record.common_name = common_name_of(content.subject);
    record.spki_sha256 = sha256_hex(content.subject_public_key_info);
    record.der = std::move(der);
    record.fingerprint_sha256 = sha256_hex(record.der);
    record.not_before = content.not_before;
    record.not_after = content.not_after;
    record.issued_at = issued_at;
    record.requester = requester;
    return record;
}

}  // namespace edgeca::ca
