// tests/fuzz/fuzz_distinguished_name.cpp — subjects, as text and as DER. As text (`edgeca-root
// init --subject`, `edgeca init --subject`): parse_distinguished_name, build_subject and
// to_rfc4514 refuse with a ca::Error or give a subject whose RFC 4514 text parses back to the
// very same subject. As DER (a CSR's subject once its signature has verified, which mutated CSRs
// rarely reach): attributes_of and build_subject refuse with a ca::Error whose response can be
// written, or give a subject that passes the rules again unchanged.
#include <botan/ber_dec.h>
#include <botan/pkix_types.h>

#include <cstdint>
#include <string>

#include "ca/distinguished_name.h"
#include "tests/fuzz/error_response.h"

using namespace edgeca;

namespace {

std::string describe(const std::vector<ca::DnAttribute>& attributes) {
    std::string out;
    for (const auto& a : attributes) out += a.key + "=[" + a.value + "] ";
    return out;
}

// A subject the rules accepted, written out and read again, is the same subject.
void check_round_trip(const Botan::X509_DN& subject) {
    const std::string text = ca::to_rfc4514(subject);
    const auto before = ca::attributes_of(subject);
    std::vector<ca::DnAttribute> after;
    try {
        after = ca::attributes_of(ca::build_subject(ca::parse_distinguished_name(text)));
    } catch (const ca::Error& e) {
        fuzz::finding("an accepted subject, written as RFC 4514, is refused when read back",
                      text + " -> " + e.code() + ": " + e.what());
    }
    if (after != before) {
        fuzz::finding("an accepted subject changes through RFC 4514",
                      describe(before) + "-> " + text + " -> " + describe(after));
    }
    if (ca::to_rfc4514(ca::build_subject(after)) != text) {
        fuzz::finding("to_rfc4514 is not stable over a round trip", text);
    }
}

void as_text(std::string_view text) {
    try {
        auto subject = ca::build_subject(ca::parse_distinguished_name(text));
        check_round_trip(subject);
    } catch (const ca::Error& e) {
        fuzz::check_error(e);
    }
}

void as_der(const uint8_t* data, size_t size) {
    Botan::X509_DN dn;
    try {
        Botan::BER_Decoder(data, size).decode(dn).verify_end();
    } catch (const std::exception&) {
        return;  // Botan refuses it; inside a CSR that is "csr_malformed"
    }
    try {
        auto subject = ca::build_requested_subject(dn);
        // A request's attributes are kept as they are, in their order.
        if (ca::attributes_of(subject) != ca::attributes_of(dn)) {
            fuzz::finding("build_subject changes a request's attributes or their order",
                          describe(ca::attributes_of(dn)) + "-> " + describe(ca::attributes_of(subject)));
        }
        // The rebuilt subject satisfies the rules again and keeps its values.
        auto again = ca::build_subject(ca::attributes_of(subject));
        if (ca::attributes_of(again) != ca::attributes_of(subject)) {
            fuzz::finding("build_subject is not idempotent", describe(ca::attributes_of(subject)));
        }
        check_round_trip(subject);
    } catch (const ca::Error& e) {
        fuzz::render_error(e);  // CSR subjects are refused through the HTTP API
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    as_text(fuzz::as_text(data, size));
    as_der(data, size);
    return 0;
}
