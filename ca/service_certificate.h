// ca/service_certificate.h — edgeca serve's own HTTPS certificate: issued by the issuing CA to
// itself for the configured host names, kept in DIR/tls/, renewed before it expires.
#pragma once

#include <botan/rng.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ca/clock.h"
#include "ca/issuing_authority.h"

namespace edgeca::ca {

struct ServiceCredentials {
    std::string certificate_pem;
    std::string key_pem;  // unencrypted PKCS#8, in memory only
    Time not_before{};
    Time not_after{};
    std::string serial_hex;
};

class ServiceCertificate {
public:
    // `names` are DNS names and IPv4 addresses; the key is stored encrypted under `passphrase`.
    ServiceCertificate(IssuingAuthority& authority, const Clock& clock,
                       Botan::RandomNumberGenerator& rng, std::filesystem::path directory,
                       std::string passphrase, std::vector<std::string> names);

    // The credentials on disk when they cover the names and more than a third of their life
    // is left; otherwise a new key and certificate, written to disk first.
    ServiceCredentials current();
    bool due_for_renewal(const ServiceCredentials& credentials) const;
    ServiceCredentials renew();

private:
    std::filesystem::path certificate_path() const { return directory_ / "server.pem"; }
    std::filesystem::path key_path() const { return directory_ / "server.key"; }

    IssuingAuthority& authority_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    std::filesystem::path directory_;
    std::string passphrase_;
    std::vector<std::string> names_;
};

}  // namespace edgeca::ca
