// tests/unit/test_key_shares.cpp — any M of N sealed shares rebuild the key; every other set of
// shares is refused with its own code.
#include <doctest/doctest.h>

#include <botan/pkcs8.h>

#include <algorithm>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/key_shares.h"
#include "tests/unit/test_support.h"

using namespace edgeca;

namespace {

// Cheap scrypt for tests; the tool itself always uses the default cost.
constexpr ca::ShareKdfCost test_cost{10, 1, 1};

std::vector<std::string> custodian_passphrases(size_t n) {
    std::vector<std::string> out;
    for (size_t i = 1; i <= n; ++i) out.push_back("custodian passphrase " + std::to_string(i));
    return out;
}

struct Backup {
    const Botan::Private_Key& key;
    std::vector<std::string> passphrases;
    std::vector<std::string> pems;

    Backup(const Botan::Private_Key& k, size_t m, size_t n)
        : key(k), passphrases(custodian_passphrases(n)),
          pems(ca::split_key(k, m, passphrases, test::rng(), test_cost)) {}

    ca::ShareInput share(size_t index) const {  // 1-based, as custodians count
        return {"share-" + std::to_string(index) + ".pem", pems.at(index - 1),
                passphrases.at(index - 1)};
    }
    std::vector<ca::ShareInput> shares(std::initializer_list<size_t> indices) const {
        std::vector<ca::ShareInput> out;
        for (auto i : indices) out.push_back(share(i));
        return out;
    }
    std::vector<uint8_t> spki() const { return key.subject_public_key(); }
};

std::string join_code(const std::vector<ca::ShareInput>& shares, std::vector<uint8_t> spki) {
    return test::error_code([&] { ca::join_shares(shares, spki); });
}

std::string join_message(const std::vector<ca::ShareInput>& shares, std::vector<uint8_t> spki) {
    try {
        ca::join_shares(shares, spki);
    } catch (const ca::Error& e) {
        return e.what();
    }
    return "";
}

// The share's octets with one changed at `offset` (counted from the end when negative).
std::string with_octet_flipped(const std::string& pem, long offset) {
    auto der = ca::decode_single_pem(pem, {ca::key_share_pem_label}, "share");
    auto at = offset >= 0 ? static_cast<size_t>(offset) : der.size() - static_cast<size_t>(-offset);
    der.at(at) ^= 0x01;
    return ca::encode_pem(der, ca::key_share_pem_label);
}

}  // namespace

TEST_CASE("key shares: every 3 of 5 shares, and more than 3, rebuild the key") {
    Backup backup(test::rsa_key(), 3, 5);
    auto expected = Botan::PKCS8::BER_encode(backup.key);
    int joined = 0;
    for (size_t a = 1; a <= 5; ++a) {
        for (size_t b = a + 1; b <= 5; ++b) {
            for (size_t c = b + 1; c <= 5; ++c) {
                auto key = ca::join_shares(backup.shares({c, a, b}), backup.spki());
                CHECK(Botan::PKCS8::BER_encode(*key) == expected);
                ++joined;
            }
        }
    }
    CHECK(joined == 10);
    auto all = ca::join_shares(backup.shares({5, 4, 3, 2, 1}), backup.spki());
    CHECK(Botan::PKCS8::BER_encode(*all) == expected);
    CHECK(Botan::PKCS8::BER_encode(*ca::join_shares(backup.shares({2, 4, 5, 1}), backup.spki())) ==
          expected);
}

TEST_CASE("key shares: 2 of 2 and 254 custodians are the limits that work") {
    Backup two(test::rsa_key(), 2, 2);
    CHECK(ca::join_shares(two.shares({2, 1}), two.spki())->subject_public_key() == two.spki());
    auto many = ca::split_key(test::rsa_key(), 2, custodian_passphrases(254), test::rng(),
                              test_cost);
    CHECK(many.size() == 254);
    CHECK(ca::read_share_header(many.back(), "last").index == 254);
}

TEST_CASE("key shares: each share is PEM with its label and a header readable without its "
          "passphrase") {
    Backup backup(test::rsa_key(), 3, 5);
    auto key_id = ca::key_id_of(backup.spki());
    for (size_t i = 1; i <= 5; ++i) {
        const auto& pem = backup.pems[i - 1];
        CHECK(pem.starts_with("-----BEGIN EDGECA ROOT KEY SHARE-----\n"));
        auto header = ca::read_share_header(pem, "share");
        CHECK(header.threshold == 3);
        CHECK(header.count == 5);
        CHECK(header.index == i);
        CHECK(header.key_id == key_id);
        CHECK(header.backup_id == ca::read_share_header(backup.pems[0], "s").backup_id);
        // The header names the key by the SHA-256 of its public key, readable by anyone.
        auto der = ca::decode_single_pem(pem, {ca::key_share_pem_label}, "share");
        CHECK(std::search(der.begin(), der.end(), key_id.begin(), key_id.end()) != der.end());
    }
    Backup again(test::rsa_key(), 3, 5);
    CHECK(ca::read_share_header(again.pems[0], "a").backup_id !=
          ca::read_share_header(backup.pems[0], "b").backup_id);
}

TEST_CASE("key shares: M and N out of range are refused before anything is split") {
    const auto& key = test::rsa_key();
    auto split = [&](size_t m, size_t n) {
        return test::error_code(
            [&] { ca::split_key(key, m, custodian_passphrases(n), test::rng(), test_cost); });
    };
    CHECK(split(1, 5) == "share_split_invalid");  // M = 1: N plain copies, not a split
    CHECK(split(0, 5) == "share_split_invalid");
    CHECK(split(6, 5) == "share_split_invalid");
    CHECK(split(2, 1) == "share_split_invalid");
    CHECK(split(2, 255) == "share_split_invalid");
    CHECK(split(2, 0) == "share_split_invalid");
    CHECK(test::error_code([] { ca::check_share_split(5, 5); }) == "none");
}

TEST_CASE("key shares: fewer than M distinct shares are refused") {
    Backup backup(test::rsa_key(), 3, 5);
    CHECK(join_code(backup.shares({1, 4}), backup.spki()) == "shares_too_few");
    CHECK(join_code({}, backup.spki()) == "shares_too_few");
    CHECK(join_message(backup.shares({1, 4}), backup.spki()).find("needs 3 of 5") !=
          std::string::npos);
}

TEST_CASE("key shares: the same share twice counts once and is refused, naming both files") {
    Backup backup(test::rsa_key(), 3, 5);
    auto shares = backup.shares({1, 2, 2});
    shares[2].name = "copy-of-share-2.pem";
    CHECK(join_code(shares, backup.spki()) == "share_duplicate");
    auto message = join_message(shares, backup.spki());
    CHECK(message.find("share-2.pem and copy-of-share-2.pem") != std::string::npos);
}

TEST_CASE("key shares: shares of another key, or of another backup, are refused") {
    Backup ours(test::rsa_key(), 3, 5);
    auto other_key = test::fresh_rsa_key();
    Backup theirs(*other_key, 3, 5);
    auto mixed = ours.shares({1, 2});
    mixed.push_back(theirs.share(3));
    mixed.back().name = "their-share-3.pem";
    CHECK(join_code(mixed, ours.spki()) == "share_other_key");
    CHECK(join_message(mixed, ours.spki()).find("their-share-3.pem") != std::string::npos);
    // All of another key, checked against our root: refused before any share is opened.
    CHECK(join_code(theirs.shares({1, 2, 3}), ours.spki()) == "share_other_key");

    // Two backups of the same key have different polynomials: their shares do not mix.
    Backup second(test::rsa_key(), 3, 5);
    auto two_backups = ours.shares({1, 2});
    two_backups.push_back(second.share(3));
    CHECK(join_code(two_backups, ours.spki()) == "share_other_backup");
    Backup wider(test::rsa_key(), 3, 6);
    auto other_split = ours.shares({1, 2});
    other_split.push_back(wider.share(6));
    CHECK(join_code(other_split, ours.spki()) == "share_other_backup");
}

TEST_CASE("key shares: a wrong custodian passphrase or an altered octet does not open a share") {
    Backup backup(test::rsa_key(), 3, 5);
    auto shares = backup.shares({1, 2, 3});
    shares[1].passphrase = backup.passphrases[0];  // custodian 1's passphrase on share 2
    CHECK(join_code(shares, backup.spki()) == "share_wrong_passphrase");
    CHECK(join_message(shares, backup.spki()).find("share-2.pem") != std::string::npos);

    // One octet of the sealed share, of its salt, or of the authenticated header (the index).
    for (long offset : {-1L, -40L, 70L, 11L}) {
        CAPTURE(offset);
        auto altered = backup.shares({1, 2, 3});
        altered[2].pem = with_octet_flipped(altered[2].pem, offset);
        auto code = join_code(altered, backup.spki());
        if (offset == 11) {
            // Index 3 became 2: now a duplicate by its header, refused before any passphrase.
            CHECK(code == "share_duplicate");
            altered = backup.shares({1, 4, 3});
            altered[2].pem = with_octet_flipped(altered[2].pem, offset);
            code = join_code(altered, backup.spki());
        }
        CHECK(code == "share_wrong_passphrase");
    }
}

TEST_CASE("key shares: a share whose body is corrupted under an intact seal fails the RTSS "
          "checksum") {
    Backup backup(test::rsa_key(), 3, 5);
    auto header = ca::read_share_header(backup.pems[1], "share-2");
    auto body = ca::open_share(backup.pems[1], backup.passphrases[1], "share-2");
    body.back() ^= 0x80;  // a y-value octet of the RTSS share
    auto shares = backup.shares({1, 2, 3});
    shares[1].pem = ca::seal_share(header, body, backup.passphrases[1], test::rng(), test_cost);
    CHECK(join_code(shares, backup.spki()) == "share_corrupted");

    // A sealed body that belongs to another index than its header names.
    auto third = ca::open_share(backup.pems[2], backup.passphrases[2], "share-3");
    shares = backup.shares({1, 2, 4});
    shares[1].pem = ca::seal_share(header, third, backup.passphrases[1], test::rng(), test_cost);
    CHECK(join_code(shares, backup.spki()) == "share_corrupted");
}

TEST_CASE("key shares: what is not a share is refused as malformed") {
    Backup backup(test::rsa_key(), 2, 3);
    auto header_code = [](const std::string& pem) {
        return test::error_code([&] { ca::read_share_header(pem, "x.pem"); });
    };
    CHECK(header_code("not PEM at all") == "share_malformed");
    CHECK(header_code(ca::encode_pem(std::vector<uint8_t>(200, 7), "CERTIFICATE")) ==
          "share_malformed");
    CHECK(header_code(ca::encode_pem(std::vector<uint8_t>(200, 7), ca::key_share_pem_label)) ==
          "share_malformed");
    CHECK(header_code(with_octet_flipped(backup.pems[0], 8)) == "share_malformed");  // version
    // An scrypt cost beyond 2^20 would let a crafted file demand gigabytes.
    auto der = ca::decode_single_pem(backup.pems[0], {ca::key_share_pem_label}, "s");
    der.at(61) = 30;
    CHECK(header_code(ca::encode_pem(der, ca::key_share_pem_label)) == "share_malformed");
}
