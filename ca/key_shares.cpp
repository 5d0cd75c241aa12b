// ca/key_shares.cpp — splitting a key into sealed RTSS shares and joining them again.
#include "ca/key_shares.h"

#include <botan/aead.h>
#include <botan/data_src.h>
#include <botan/pkcs8.h>
#include <botan/pwdhash.h>
#include <botan/tss.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "ca/encoding.h"
#include "ca/errors.h"

namespace edgeca::ca {
namespace {

// The sealed share, all big-endian octets:
//   magic "EDGECAKS" | version 1 | M | N | index | key id (32) | backup id (16)
//   | kdf 1 (scrypt) | log2 N | r | p | salt (16) | nonce (12) | AES-256/GCM(RTSS share) + tag
// Everything before the ciphertext is the GCM associated data.
constexpr std::array<uint8_t, 8> magic{'E', 'D', 'G', 'E', 'C', 'A', 'K', 'S'};
constexpr uint8_t format_version = 1;
constexpr uint8_t kdf_scrypt = 1;
constexpr size_t salt_size = 16;
constexpr size_t nonce_size = 12;
constexpr size_t tag_size = 16;
constexpr size_t header_size = 8 + 4 + 32 + 16 + 4 + salt_size + nonce_size;
constexpr size_t rtss_header_size = 20;  // identifier (16), hash id, M, share length (2)
constexpr size_t max_share_bytes = 16 * 1024;

struct SealedShare {
    KeyShareHeader header;
    ShareKdfCost cost;
    std::vector<uint8_t> associated_data;  // the header octets, salt and nonce included
    std::vector<uint8_t> salt;
    std::vector<uint8_t> nonce;
    std::vector<uint8_t> ciphertext;
};

[[noreturn]] void malformed(std::string_view name, std::string_view why) {
    throw Error(ErrorKind::bad_input, "share_malformed",
                fmt::format("{} is not an edgeca key share: {}", name, why));
}

SealedShare parse(std::string_view pem, std::string_view name) {
    std::vector<uint8_t> bytes;
    try {
        bytes = decode_single_pem(pem, {key_share_pem_label}, name);
    } catch (const Error& e) {
        malformed(name, e.what());
    }
    if (bytes.size() < header_size + tag_size + rtss_header_size + 2 ||
        bytes.size() > max_share_bytes) {
        malformed(name, fmt::format("{} octets", bytes.size()));
    }
    if (!std::equal(magic.begin(), magic.end(), bytes.begin())) malformed(name, "no share magic");
    if (bytes[8] != format_version) {
        malformed(name, fmt::format("format version {} (this tool reads {})", bytes[8],
                                    format_version));
    }
    SealedShare share;
    auto& h = share.header;
    h.threshold = bytes[9];
    h.count = bytes[10];
    h.index = bytes[11];
    if (h.threshold < min_share_threshold || h.threshold > h.count || h.index < 1 ||
        h.index > h.count) {
        malformed(name, fmt::format("share {} of {}, threshold {}", h.index, h.count,
                                    h.threshold));
    }
    auto at = bytes.begin() + 12;
    std::copy_n(at, h.key_id.size(), h.key_id.begin());
    at += h.key_id.size();
    std::copy_n(at, h.backup_id.size(), h.backup_id.begin());
    at += h.backup_id.size();
    if (*at++ != kdf_scrypt) malformed(name, "unknown password hash");
    share.cost = {at[0], at[1], at[2]};
    at += 3;
    if (share.cost.log2_n < 10 || share.cost.log2_n > 20 || share.cost.r < 1 ||
        share.cost.r > 16 || share.cost.p < 1 || share.cost.p > 4) {
        malformed(name, "scrypt cost out of range");
    }
    share.salt.assign(at, at + salt_size);
    at += salt_size;
    share.nonce.assign(at, at + nonce_size);
    at += nonce_size;
    share.associated_data.assign(bytes.begin(), at);
    share.ciphertext.assign(at, bytes.end());
    return share;
}

std::vector<uint8_t> encode_header(const KeyShareHeader& h, ShareKdfCost cost,
                                   std::span<const uint8_t> salt, std::span<const uint8_t> nonce) {
    std::vector<uint8_t> out(magic.begin(), magic.end());
    out.insert(out.end(), {format_version, h.threshold, h.count, h.index});
    out.insert(out.end(), h.key_id.begin(), h.key_id.end());
    out.insert(out.end(), h.backup_id.begin(), h.backup_id.end());
    out.insert(out.end(), {kdf_scrypt, cost.log2_n, cost.r, cost.p});
    out.insert(out.end(), salt.begin(), salt.end());
    out.insert(out.end(), nonce.begin(), nonce.end());
    return out;
}

Botan::secure_vector<uint8_t> derive_key(const std::string& passphrase, ShareKdfCost cost,
                                         std::span<const uint8_t> salt) {
    auto family = Botan::PasswordHashFamily::create_or_throw("Scrypt");
    auto hash = family->from_params(size_t{1} << cost.log2_n, cost.r, cost.p);
    Botan::secure_vector<uint8_t> key(32);
    hash->derive_key(key.data(), key.size(), passphrase.data(), passphrase.size(), salt.data(),
                     salt.size());
    return key;
}

// The KeyShareHeader fields of `a` and `b` that must agree within one backup.
bool same_backup(const KeyShareHeader& a, const KeyShareHeader& b) {
    return a.backup_id == b.backup_id && a.threshold == b.threshold && a.count == b.count;
}

std::string short_hex(std::span<const uint8_t> bytes) {
    return to_hex(bytes.first(std::min<size_t>(bytes.size(), 8)));
}

}  // namespace

void check_share_split(size_t threshold, size_t count) {
    if (count < min_share_threshold || count > max_share_count) {
        throw Error(ErrorKind::bad_input, "share_split_invalid",
                    fmt::format("{} shares: the number of shares is 2 to 254", count));
    }
    if (threshold == 1) {
        throw Error(ErrorKind::bad_input, "share_split_invalid",
                    "a threshold of 1 is not a split (every share would be the whole key); "
                    "the threshold is 2 to the number of shares");
    }
    if (threshold < min_share_threshold || threshold > count) {
        throw Error(ErrorKind::bad_input, "share_split_invalid",
                    fmt::format("threshold {} of {} shares: the threshold is 2 to the number "
                                "of shares",
                                threshold, count));
    }
}

std::array<uint8_t, 32> key_id_of(std::span<const uint8_t> subject_public_key_info) {
    auto digest = sha256(subject_public_key_info);
    std::array<uint8_t, 32> id{};
    std::copy_n(digest.begin(), id.size(), id.begin());
    return id;
}

std::string seal_share(const KeyShareHeader& header, std::span<const uint8_t> rtss_share,
                       const std::string& passphrase, Botan::RandomNumberGenerator& rng,
                       ShareKdfCost cost) {
    if (passphrase.empty()) {
        throw Error(ErrorKind::bad_input, "passphrase_empty",
                    "a custodian's passphrase is empty; a share is never written unsealed");
    }
    auto salt = rng.random_vec(salt_size);
    auto nonce = rng.random_vec(nonce_size);
    auto associated = encode_header(header, cost, salt, nonce);
    auto key = derive_key(passphrase, cost, salt);
    auto cipher = Botan::AEAD_Mode::create_or_throw("AES-256/GCM", Botan::ENCRYPTION);
    cipher->set_key(key);
    cipher->set_associated_data_vec(associated);
    cipher->start(nonce);
    Botan::secure_vector<uint8_t> sealed(rtss_share.begin(), rtss_share.end());
    cipher->finish(sealed);
    std::vector<uint8_t> out = associated;
    out.insert(out.end(), sealed.begin(), sealed.end());
    return encode_pem(out, key_share_pem_label);
}

KeyShareHeader read_share_header(std::string_view pem, std::string_view name) {
    return parse(pem, name).header;
}

Botan::secure_vector<uint8_t> open_share(std::string_view pem, const std::string& passphrase,
                                         std::string_view name) {
    auto share = parse(pem, name);
    auto key = derive_key(passphrase, share.cost, share.salt);
    auto cipher = Botan::AEAD_Mode::create_or_throw("AES-256/GCM", Botan::DECRYPTION);
    cipher->set_key(key);
    cipher->set_associated_data_vec(share.associated_data);
    cipher->start(share.nonce);
    Botan::secure_vector<uint8_t> plain(share.ciphertext.begin(), share.ciphertext.end());
    try {
        cipher->finish(plain);
    } catch (const std::exception&) {
        // GCM cannot tell a wrong key from altered octets; both leave the share shut.
        throw Error(ErrorKind::unauthenticated, "share_wrong_passphrase",
                    fmt::format("the custodian's passphrase does not open {} (or the file was "
                                "altered)",
                                name));
    }
    // The RTSS share inside must be the one the authenticated header announces.
    const auto& h = share.header;
    if (plain.size() < rtss_header_size + 2 ||
        !std::equal(plain.begin(), plain.begin() + 16, h.key_id.begin()) ||
        plain[17] != h.threshold || plain[rtss_header_size] != h.index) {
        throw Error(ErrorKind::bad_input, "share_corrupted",
                    fmt::format("{} holds a share that does not match its header", name));
    }
    return plain;
}

std::vector<std::string> split_key(const Botan::Private_Key& key, size_t threshold,
                                   const std::vector<std::string>& passphrases,
                                   Botan::RandomNumberGenerator& rng, ShareKdfCost cost) {
    check_share_split(threshold, passphrases.size());
    KeyShareHeader header;
    header.threshold = static_cast<uint8_t>(threshold);
    header.count = static_cast<uint8_t>(passphrases.size());
    header.key_id = key_id_of(key.subject_public_key());
    rng.randomize(header.backup_id.data(), header.backup_id.size());

    auto secret = Botan::PKCS8::BER_encode(key);
    std::vector<uint8_t> identifier(header.key_id.begin(), header.key_id.begin() + 16);
    auto shares = Botan::RTSS_Share::split(header.threshold, header.count, secret.data(),
                                           static_cast<uint16_t>(secret.size()), identifier,
                                           "SHA-256", rng);
    std::vector<std::string> out;
    for (size_t i = 0; i < shares.size(); ++i) {
        header.index = shares[i].share_id();
        out.push_back(seal_share(header, shares[i].data(), passphrases[i], rng, cost));
    }
    return out;
}

void check_share_set(const std::vector<std::pair<std::string, KeyShareHeader>>& shares,
                     const std::array<uint8_t, 32>& root_key_id) {
    if (shares.empty()) {
        throw Error(ErrorKind::bad_input, "shares_too_few", "no share was given");
    }
    const auto& [first_name, first] = shares.front();
    std::map<uint8_t, std::string> by_index;
    for (const auto& [name, header] : shares) {
        if (header.key_id != root_key_id) {
            throw Error(ErrorKind::bad_input, "share_other_key",
                        fmt::format("{} is a share of another key (key SHA-256 {}..., the root's "
                                    "is {}...)",
                                    name, short_hex(header.key_id), short_hex(root_key_id)));
        }
        if (!same_backup(header, first)) {
            throw Error(ErrorKind::bad_input, "share_other_backup",
                        fmt::format("{} ({}-of-{}) and {} ({}-of-{}) come from different "
                                    "backups; shares of one backup only can be joined",
                                    name, header.threshold, header.count, first_name,
                                    first.threshold, first.count));
        }
        auto [seen, fresh] = by_index.emplace(header.index, name);
        if (!fresh) {
            throw Error(ErrorKind::bad_input, "share_duplicate",
                        fmt::format("{} and {} are both share {} of {}; each custodian's share "
                                    "counts once",
                                    seen->second, name, header.index, header.count));
        }
    }
    if (by_index.size() < first.threshold) {
        throw Error(ErrorKind::bad_input, "shares_too_few",
                    fmt::format("{} distinct share(s) given ({}); this backup needs {} of {}",
                                by_index.size(), first_name, first.threshold, first.count));
    }
}

std::unique_ptr<Botan::Private_Key> join_shares(const std::vector<ShareInput>& shares,
                                                std::span<const uint8_t> root_spki) {
    std::vector<std::pair<std::string, KeyShareHeader>> headers;
    for (const auto& share : shares) {
        headers.emplace_back(share.name, read_share_header(share.pem, share.name));
    }
    check_share_set(headers, key_id_of(root_spki));

    std::vector<Botan::RTSS_Share> opened;
    std::string names;
    for (const auto& share : shares) {
        auto plain = open_share(share.pem, share.passphrase, share.name);
        opened.emplace_back(plain.data(), plain.size());
        names += (names.empty() ? "" : ", ") + share.name;
    }
    Botan::secure_vector<uint8_t> secret;
    try {
        secret = Botan::RTSS_Share::reconstruct(opened);
    } catch (const std::exception& e) {
        throw Error(ErrorKind::bad_input, "share_corrupted",
                    fmt::format("the shares {} do not join to a key ({}): one of them is "
                                "corrupted",
                                names, e.what()));
    }
    std::unique_ptr<Botan::Private_Key> key;
    try {
        Botan::DataSource_Memory source(secret);
        key = Botan::PKCS8::load_key(source);
    } catch (const std::exception&) {
        throw Error(ErrorKind::bad_input, "share_corrupted",
                    fmt::format("the shares {} join to something that is not a private key",
                                names));
    }
    auto spki = key->subject_public_key();
    if (!std::equal(spki.begin(), spki.end(), root_spki.begin(), root_spki.end())) {
        throw Error(ErrorKind::bad_input, "key_mismatch",
                    fmt::format("the shares {} rebuild a key that is not the root's", names));
    }
    return key;
}

}  // namespace edgeca::ca
