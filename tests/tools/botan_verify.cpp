// botan-verify: runs Botan's X.509 path validation on a certificate, so tests can ask Botan
// whether it accepts what edgeca issues (and refuses what edgeca revoked).
#include <botan/certstor.h>
#include <botan/data_src.h>
#include <botan/x509_crl.h>
#include <botan/x509cert.h>
#include <botan/x509path.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int exit_valid = 0;
constexpr int exit_invalid = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage_text =
    "usage: botan-verify --trusted root.pem [--untrusted issuer.pem]... [--crl crl.pem]...\n"
    "                    [--usage tls-client|tls-server|any] [--hostname NAME] leaf.pem\n"
    "Prints Botan's path validation result; exits 0 only when the path validates.\n";

struct Options {
    std::vector<std::string> trusted;
    std::vector<std::string> untrusted;
    std::vector<std::string> crls;
    Botan::Usage_Type usage = Botan::Usage_Type::UNSPECIFIED;
    std::string hostname;
    std::string leaf;
};

Botan::Usage_Type parse_usage(std::string_view name) {
    if (name == "tls-client") return Botan::Usage_Type::TLS_CLIENT_AUTH;
    if (name == "tls-server") return Botan::Usage_Type::TLS_SERVER_AUTH;
    if (name == "any") return Botan::Usage_Type::UNSPECIFIED;
    throw std::invalid_argument("--usage must be tls-client, tls-server or any, not '" +
                                std::string(name) + "'");
}

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--trusted")
            options.trusted.push_back(value());
        else if (arg == "--untrusted")
            options.untrusted.push_back(value());
        else if (arg == "--crl")
            options.crls.push_back(value());
        else if (arg == "--usage")
            options.usage = parse_usage(value());
        else if (arg == "--hostname")
            options.hostname = value();
        else if (arg.starts_with("-"))
            throw std::invalid_argument("unknown option " + std::string(arg));
        else if (options.leaf.empty())
            options.leaf = arg;
        else
            throw std::invalid_argument("more than one leaf certificate given");
    }
    if (options.trusted.empty()) throw std::invalid_argument("--trusted is required");
    if (options.leaf.empty()) throw std::invalid_argument("a leaf certificate is required");
    return options;
}

// A PEM file may hold a chain: every certificate in it is read, in order. A file without PEM
// armour is read as one DER certificate.
std::vector<Botan::X509_Certificate> load_certificates(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::invalid_argument("cannot read " + path);
    const std::string contents{std::istreambuf_iterator<char>(file),
                               std::istreambuf_iterator<char>()};

    constexpr std::string_view end_marker = "-----END CERTIFICATE-----";
    std::vector<Botan::X509_Certificate> certificates;
    if (contents.find("-----BEGIN") == std::string::npos) {
        certificates.emplace_back(path);
        return certificates;
    }
    for (std::size_t start = 0;;) {
        const std::size_t end = contents.find(end_marker, start);
        if (end == std::string::npos) break;
        Botan::DataSource_Memory block(contents.substr(start, end + end_marker.size() - start));
        certificates.emplace_back(block);
        start = end + end_marker.size();
    }
    if (certificates.empty()) throw std::invalid_argument("no certificate in " + path);
    return certificates;
}

int run(const Options& options) {
    Botan::Certificate_Store_In_Memory store;
    for (const auto& path : options.trusted)
        for (const auto& certificate : load_certificates(path)) store.add_certificate(certificate);
    for (const auto& path : options.crls) store.add_crl(Botan::X509_CRL(path));

    std::vector<Botan::X509_Certificate> chain = load_certificates(options.leaf);
    for (const auto& path : options.untrusted)
        for (const auto& certificate : load_certificates(path)) chain.push_back(certificate);

    // With CRLs given, the leaf must have revocation data (a missing or unusable CRL fails it);
    // a CRL given for an intermediate is checked too. These are x509_path_validate's steps, with
    // one correction: Botan 2.19 (PKIX::check_crl) pairs a CRL with a certificate that names a
    // distribution point only through an Issuing Distribution Point naming the same URL, and
    // so reports NO_MATCHING_CRLDP for a complete CRL (one without that extension), which
    // RFC 5280 (5.2.5, 6.3.3 b) applies to every certificate of its issuer. That one status is
    // dropped for a CRL without an Issuing Distribution Point; every other check stands.
    const Botan::Path_Validation_Restrictions restrictions(!options.crls.empty(), 110);
    std::vector<Botan::Certificate_Store*> stores{&store};
    std::vector<std::shared_ptr<const Botan::X509_Certificate>> extra;
    for (size_t i = 1; i < chain.size(); ++i) extra.push_back(std::make_shared<const Botan::X509_Certificate>(chain[i]));
    std::vector<std::shared_ptr<const Botan::X509_Certificate>> path;
    const auto built = Botan::PKIX::build_certificate_path(
        path, stores, std::make_shared<const Botan::X509_Certificate>(chain[0]), extra);
    const auto now = std::chrono::system_clock::now();
    const Botan::Path_Validation_Result result = [&] {
        if (built != Botan::Certificate_Status_Code::OK) return Botan::Path_Validation_Result(built);
        auto status = Botan::PKIX::check_chain(path, now, options.hostname, options.usage,
                                               restrictions.minimum_key_strength(), restrictions.trusted_hashes());
        auto crl_status = Botan::PKIX::check_crl(path, stores, now);
        for (size_t i = 0; i < crl_status.size() && i + 1 < path.size(); ++i) {
            auto crl = store.find_crl_for(*path[i]);
            if (crl && crl->crl_issuing_distribution_point().empty()) {
                crl_status[i].erase(Botan::Certificate_Status_Code::NO_MATCHING_CRLDP);
            }
        }
        Botan::PKIX::merge_revocation_status(status, crl_status, {}, restrictions.require_revocation_information(),
                                             restrictions.ocsp_all_intermediates());
        return Botan::Path_Validation_Result(status, std::move(path));
    }();
    std::cout << result.result_string() << '\n';
    return result.successful_validation() ? exit_valid : exit_invalid;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse_options(argc, argv));
    } catch (const std::invalid_argument& error) {
        std::cerr << "botan-verify: " << error.what() << '\n' << usage_text;
        return exit_usage;
    } catch (const std::exception& error) {
        std::cerr << "botan-verify: " << error.what() << '\n';
        return exit_usage;
    }
}
