// PkixCrlCheck: Java's own PKIX path validation (standard library only) with revocation on and
// CRLs fetched from the certificates' CRL distribution points (com.sun.security.enableCRLDP),
// none given locally: as a Java relying party checks an edgeca path by default.
//   java PkixCrlCheck ROOT CHAIN      CHAIN: PEM, leaf first, then the issuing CA
// Prints "VALID", or "INVALID reason=<BasicReason> index=<certificate> <message>".
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;

public class PkixCrlCheck {
    public static void main(String[] args) throws Exception {
        System.setProperty("com.sun.security.enableCRLDP", "true");
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        X509Certificate root;
        try (FileInputStream in = new FileInputStream(args[0])) {
            root = (X509Certificate) factory.generateCertificate(in);
        }
        List<Certificate> chain = new ArrayList<>();
        try (FileInputStream in = new FileInputStream(args[1])) {
            chain.addAll(factory.generateCertificates(in));
        }
        PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        parameters.setRevocationEnabled(true);
        try {
            CertPathValidator.getInstance("PKIX").validate(factory.generateCertPath(chain), parameters);
            System.out.println("VALID");
        } catch (CertPathValidatorException e) {
            System.out.println("INVALID reason=" + e.getReason() + " index=" + e.getIndex() + " " + e.getMessage());
            System.exit(1);
        }
    }
}
