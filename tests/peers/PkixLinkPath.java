// tests/peers/PkixLinkPath.java — builds a path with Java's PKIX CertPathBuilder (standard
// library only), as a Java device would: java PkixLinkPath.java ANCHOR.pem CERTS.pem LEAF.pem.
// The anchor file may hold several roots; CERTS.pem holds the intermediates and link
// certificates the builder may use. Revocation is not checked here (other tests cover it).
// Exit 0 and one line a certificate of the path (leaf first) then the anchor; exit 1 with the
// builder's reason.
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;

public class PkixLinkPath {
    static Collection<? extends Certificate> read(String path) throws Exception {
        try (FileInputStream in = new FileInputStream(path)) {
            return CertificateFactory.getInstance("X.509").generateCertificates(in);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: PkixLinkPath ANCHOR.pem CERTS.pem LEAF.pem");
            System.exit(2);
        }
        Set<TrustAnchor> anchors = new HashSet<>();
        for (Certificate c : read(args[0])) anchors.add(new TrustAnchor((X509Certificate) c, null));
        X509Certificate leaf = (X509Certificate) read(args[2]).iterator().next();
        List<Certificate> pool = new ArrayList<>(read(args[1]));
        pool.add(leaf);
        X509CertSelector target = new X509CertSelector();
        target.setCertificate(leaf);
        PKIXBuilderParameters params = new PKIXBuilderParameters(anchors, target);
        params.setRevocationEnabled(false);
        params.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(pool)));
        try {
            PKIXCertPathBuilderResult result =
                (PKIXCertPathBuilderResult) CertPathBuilder.getInstance("PKIX").build(params);
            for (Certificate c : result.getCertPath().getCertificates()) {
                X509Certificate x = (X509Certificate) c;
                System.out.println(x.getSubjectX500Principal() + " <- " + x.getIssuerX500Principal());
            }
            System.out.println("anchor " + result.getTrustAnchor().getTrustedCert().getSubjectX500Principal());
        } catch (CertPathBuilderException e) {
            System.err.println(e.getMessage());
            System.exit(1);
        }
    }
}
