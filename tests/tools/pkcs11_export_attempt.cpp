// tests/tools/pkcs11_export_attempt.cpp — tries to get a private key out of a PKCS#11 token
// the two ways PKCS#11 offers: reading its secret attributes, and wrapping it under a key of
// our own. Prints the token's answer to each; exit 0 when the token refused every attempt,
// 1 when any secret came out, 2 when the attempt could not be made.
// Usage: pkcs11-export-attempt MODULE TOKEN_LABEL OBJECT_LABEL PIN_FILE
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

int fail(const char* what, CK_RV rv) {
    std::printf("cannot attempt: %s (CKR 0x%lX)\n", what, static_cast<unsigned long>(rv));
    return 2;
}

const char* refusal(CK_RV rv) {
    switch (rv) {
        case CKR_ATTRIBUTE_SENSITIVE:
            return "CKR_ATTRIBUTE_SENSITIVE";
        case CKR_KEY_UNEXTRACTABLE:
            return "CKR_KEY_UNEXTRACTABLE";
        case CKR_KEY_NOT_WRAPPABLE:
            return "CKR_KEY_NOT_WRAPPABLE";
        case CKR_OK:
            return "CKR_OK";
        default:
            return "another refusal";
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s MODULE TOKEN_LABEL OBJECT_LABEL PIN_FILE\n", argv[0]);
        return 2;
    }
    std::string pin;
    std::ifstream(argv[4]) >> pin;
    CK_FUNCTION_LIST* p11 = p11_kit_module_load(argv[1], P11_KIT_MODULE_UNMANAGED);
    if (!p11) return fail("the module does not load", 0);
    CK_RV rv = p11->C_Initialize(nullptr);
    if (rv != CKR_OK) return fail("C_Initialize", rv);
    CK_ULONG count = 0;
    p11->C_GetSlotList(CK_TRUE, nullptr, &count);
    std::vector<CK_SLOT_ID> slots(count);
    p11->C_GetSlotList(CK_TRUE, slots.data(), &count);
    CK_SLOT_ID slot = 0;
    bool found = false;
    for (CK_SLOT_ID candidate : slots) {
        CK_TOKEN_INFO info;
        if (p11->C_GetTokenInfo(candidate, &info) != CKR_OK) continue;
        std::string label(reinterpret_cast<char*>(info.label), sizeof info.label);
        label.erase(label.find_last_not_of(' ') + 1);
        if (label == argv[2]) slot = candidate, found = true;
    }
    if (!found) return fail("no token with that label", 0);
    CK_SESSION_HANDLE session;
    if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                 &session)) != CKR_OK) {
        return fail("C_OpenSession", rv);
    }
    if ((rv = p11->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin.data()),
                           pin.size())) != CKR_OK) {
        return fail("C_Login", rv);
    }
    CK_OBJECT_CLASS private_class = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE search[] = {{CKA_CLASS, &private_class, sizeof private_class},
                             {CKA_LABEL, argv[3], static_cast<CK_ULONG>(std::strlen(argv[3]))}};
    CK_OBJECT_HANDLE key;
    CK_ULONG matches = 0;
    p11->C_FindObjectsInit(session, search, 2);
    p11->C_FindObjects(session, &key, 1, &matches);
    p11->C_FindObjectsFinal(session);
    if (matches != 1) return fail("no private key with that label", 0);

    int revealed = 0;
    for (auto [type, name] :
         {std::pair{CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT"},
          std::pair{CKA_PRIME_1, "CKA_PRIME_1"}, std::pair{CKA_PRIME_2, "CKA_PRIME_2"}}) {
        CK_BYTE buffer[1024];
        CK_ATTRIBUTE attribute{type, buffer, sizeof buffer};
        rv = p11->C_GetAttributeValue(session, key, &attribute, 1);
        bool leaked = rv == CKR_OK && attribute.ulValueLen != CK_UNAVAILABLE_INFORMATION;
        std::printf("read %s: %s%s\n", name, refusal(rv), leaked ? " (VALUE REVEALED)" : "");
        revealed += leaked;
    }

    // A wrapping key of our own, in the session only.
    CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG length = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE wrapping_template[] = {{CKA_CLASS, &secret_class, sizeof secret_class},
                                        {CKA_KEY_TYPE, &aes, sizeof aes},
                                        {CKA_VALUE_LEN, &length, sizeof length},
                                        {CKA_TOKEN, &no, sizeof no},
                                        {CKA_WRAP, &yes, sizeof yes}};
    CK_MECHANISM generate{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE wrapping;
    if ((rv = p11->C_GenerateKey(session, &generate, wrapping_template, 5, &wrapping)) != CKR_OK) {
        return fail("C_GenerateKey for the wrapping key", rv);
    }
    CK_MECHANISM wrap{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    std::vector<CK_BYTE> wrapped(8192);
    CK_ULONG wrapped_length = wrapped.size();
    rv = p11->C_WrapKey(session, &wrap, wrapping, key, wrapped.data(), &wrapped_length);
    std::printf("wrap the key: %s%s\n", refusal(rv), rv == CKR_OK ? " (KEY WRAPPED OUT)" : "");
    revealed += rv == CKR_OK;
    p11->C_DestroyObject(session, wrapping);
    p11->C_Logout(session);
    p11->C_CloseSession(session);
    p11->C_Finalize(nullptr);
    p11_kit_module_release(p11);
    return revealed ? 1 : 0;
}
