// tests/unit/test_pkcs11_uri.cpp — RFC 7512 PKCS#11 URIs: what a CA key's URI may say, and
// every way it is refused; and the token-key settings of edgeca.toml.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ca/errors.h"
#include "ca/pkcs11_uri.h"
#include "cli/config.h"
#include "cli/token_key.h"
#include "tests/unit/test_support.h"

using namespace edgeca;

namespace {

// The message of the refusal, or "accepted".
std::string refusal(const std::string& text) {
    try {
        ca::Pkcs11Uri::parse(text);
    } catch (const ca::Error& e) {
        CHECK(e.code() == "pkcs11_uri_invalid");
        CHECK(e.kind() == ca::ErrorKind::bad_input);
        return e.what();
    }
    return "accepted";
}

struct Refused {
    const char* uri;
    const char* because;  // a part of the message
};

}  // namespace

TEST_CASE("the path attributes are read and percent-decoded") {
    // RFC 7512 section 7's example, with type=private for a key.
    auto uri = ca::Pkcs11Uri::parse(
        "pkcs11:token=The%20Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.;"
        "model=1.0;"
        "object=my-key;type=private");
    CHECK(uri.token == "The Software PKCS#11 softtoken");
    CHECK(uri.manufacturer == "Snake Oil, Inc.");
    CHECK(uri.model == "1.0");
    CHECK(uri.object == "my-key");
    CHECK_FALSE(uri.id.has_value());
    CHECK_FALSE(uri.module_path.has_value());

    auto by_id = ca::Pkcs11Uri::parse("pkcs11:serial=DECC0401648;id=%01%ab%FF");
    CHECK(by_id.serial == "DECC0401648");
    CHECK(by_id.id == std::vector<uint8_t>{0x01, 0xab, 0xff});
    CHECK_FALSE(by_id.object.has_value());

    // The scheme is case-insensitive; UTF-8 in a label is kept as it is.
    auto upper = ca::Pkcs11Uri::parse("PKCS11:token=%E4%B8%AD%E6%96%87;object=ca");
    CHECK(upper.token == "\xe4\xb8\xad\xe6\x96\x87");
}

TEST_CASE("the query gives the module and a PIN file, never the PIN") {
    auto uri = ca::Pkcs11Uri::parse(
        "pkcs11:token=CA;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/"
        "etc/ca/pin");
    CHECK(uri.module_path == "/usr/lib/softhsm/libsofthsm2.so");
    CHECK(uri.pin_source == "/etc/ca/pin");
    CHECK(ca::Pkcs11Uri::parse("pkcs11:token=CA;object=root?pin-source=/run/pin").pin_source ==
          "/run/pin");
    CHECK(refusal("pkcs11:token=CA;object=root?pin-value=123456").find("puts the PIN in the URI") !=
          std::string::npos);
}

TEST_CASE("to_string gives a URI that parses back to the same attributes") {
    ca::Pkcs11Uri uri;
    uri.token = "Root token; #1";
    uri.object = "edgeca root/2026";
    uri.id = std::vector<uint8_t>{0x00, 0x7f, 0xfe};
    uri.module_path = "/usr/lib/x86_64-linux-gnu/pkcs11/my module.so";
    const auto text = uri.to_string();
    CHECK(text.rfind("pkcs11:token=Root%20token%3B%20%231;object=edgeca%20root%2F2026;id=%00%7F%FE;"
                     "type=private",
                     0) == 0);
    auto back = ca::Pkcs11Uri::parse(text);
    CHECK(back.token == uri.token);
    CHECK(back.object == uri.object);
    CHECK(back.id == uri.id);
    CHECK(back.module_path == uri.module_path);
    CHECK(back.to_string() == text);
}

TEST_CASE("every malformed or unsafe URI is refused with the reason") {
    const std::vector<Refused> cases = {
        {"token=CA;object=x", "does not start with \"pkcs11:\""},
        {"pkcs:token=CA;object=x", "does not start with \"pkcs11:\""},
        {"pkcs11:", "names no token"},
        {"pkcs11:object=x", "names no token"},
        {"pkcs11:token=CA", "names no key"},
        {"pkcs11:token=CA;type=private", "names no key"},
        {"pkcs11:token=CA;object=a%2", "not followed by two hex digits"},
        {"pkcs11:token=CA;object=a%zz", "not followed by two hex digits"},
        {"pkcs11:token=CA;object=%", "not followed by two hex digits"},
        {"pkcs11:token=CA;object=", "'object' is empty"},
        {"pkcs11:token=CA;id=", "'id' is empty"},
        {"pkcs11:token=CA;object=a%00b", "control character"},
        {"pkcs11:token=CA;object=a%0Ab", "control character"},
        {"pkcs11:token=CA;object=a;object=b", "'object' is given twice"},
        {"pkcs11:token=A;token=B;object=x", "'token' is given twice"},
        {"pkcs11:token=CA;object=x;type=cert", "only type=private"},
        {"pkcs11:token=CA;object=x;slot-id=1", "'slot-id' is not one edgeca acts on"},
        {"pkcs11:token=CA;object=x;;", "not an attribute of the form name=value"},
        {"pkcs11:token=CA;object", "not an attribute of the form name=value"},
        {"pkcs11:token=CA;=x;object=y", "not an attribute of the form name=value"},
        {"pkcs11:token=CA;object=x?module-name=softhsm2",
         "'module-name' is not one edgeca acts on"},
        {"pkcs11:token=CA;object=x?pin-source=%7C/bin/echo", "must name a file"},
        {"pkcs11:token=CA;object=x?module-path=/a&module-path=/b", "'module-path' is given twice"},
        {"pkcs11:token=CA;object=x?", "not an attribute of the form name=value"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.uri);
        auto message = refusal(c.uri);
        CHECK_MESSAGE(message.find(c.because) != std::string::npos, message);
    }
    CHECK(refusal("pkcs11:token=CA;object=" + std::string(5000, 'a')).find("longer than 4096") !=
          std::string::npos);
}

TEST_CASE("describe names the key and the token as people read them") {
    auto uri = ca::Pkcs11Uri::parse("pkcs11:token=CA;object=issuing;id=%01%AB");
    CHECK(uri.describe() == "object \"issuing\" (id 01ab) in token \"CA\"");
}

TEST_CASE("edgeca.toml names a token key with key, pkcs11_module and pin_file") {
    std::istringstream in(
        "key = \"pkcs11:token=CA;object=issuing\"\n"
        "pkcs11_module = \"/usr/lib/softhsm/libsofthsm2.so\"\n"
        "pin_file = \"/etc/edgeca/pin\"\n");
    auto config = cli::parse_config(in, "test.toml");
    CHECK(config.token_key.key == "pkcs11:token=CA;object=issuing");
    CHECK(config.token_key.module == std::filesystem::path("/usr/lib/softhsm/libsofthsm2.so"));
    CHECK(config.token_key.pin_file == std::filesystem::path("/etc/edgeca/pin"));

    auto refused = [](const std::string& text) {
        std::istringstream bad(text);
        try {
            cli::parse_config(bad, "test.toml");
        } catch (const ca::Error& e) {
            CHECK(e.code() == "config_invalid");
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK(refused("key = \"pkcs11:token=CA;object=x;pin-value=1\"\n").find("'key'") !=
          std::string::npos);
    CHECK(refused("pkcs11_module = \"/usr/lib/softhsm/libsofthsm2.so\"\n")
              .find("'key' (a pkcs11: URI) is not set") != std::string::npos);
    CHECK(refused("pin_file = \"/etc/pin\"\n").find("'pin_file'") != std::string::npos);
    std::istringstream empty("");
    CHECK_FALSE(cli::parse_config(empty, "empty.toml").token_key.in_token());
}

TEST_CASE("the module and the PIN: command line over settings over the URI over the environment") {
    test::TempDir dir;
    auto write = [&dir](const std::string& name, const std::string& text) {
        std::ofstream(dir / name) << text;
        return dir / name;
    };
    auto from_flag = write("flag.pin", "1111\nsecond line ignored\n");
    auto from_settings = write("settings.pin", "2222\n");
    auto from_uri = write("uri.pin", "3333\n");
    const std::string uri =
        "pkcs11:token=CA;object=k?module-path=/uri/module.so&pin-source=file:" + from_uri.string();
    ::setenv("EDGECA_TEST_PIN", "4444", 1);

    cli::TokenKeySettings kept{uri, std::filesystem::path("/settings/module.so"), from_settings};
    auto both = cli::merge({std::nullopt, std::nullopt, from_flag}, kept);
    auto location = cli::token_key_location(both, "EDGECA_TEST_PIN");
    CHECK(location.module == "/settings/module.so");
    CHECK(location.pin == "1111");
    CHECK(location.uri.object == "k");

    CHECK(cli::token_key_location(kept, "EDGECA_TEST_PIN").pin == "2222");
    auto uri_only = cli::token_key_location({uri, std::nullopt, std::nullopt}, "EDGECA_TEST_PIN");
    CHECK(uri_only.module == "/uri/module.so");
    CHECK(uri_only.pin == "3333");
    auto env_only = cli::token_key_location(
        {"pkcs11:token=CA;object=k", std::filesystem::path("/m.so"), std::nullopt},
        "EDGECA_TEST_PIN");
    CHECK(env_only.pin == "4444");

    CHECK(test::error_code([] {
              cli::token_key_location({"pkcs11:token=CA;object=k", std::nullopt, std::nullopt},
                                      "EDGECA_TEST_PIN");
          }) == "pkcs11_module_unset");
    CHECK(test::error_code([] {
              cli::token_key_location(
                  {"pkcs11:token=CA", std::filesystem::path("/m.so"), std::nullopt},
                  "EDGECA_TEST_PIN");
          }) == "pkcs11_uri_invalid");
    ::unsetenv("EDGECA_TEST_PIN");
}
