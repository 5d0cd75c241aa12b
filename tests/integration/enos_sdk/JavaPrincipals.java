// JavaPrincipals.java: prints a certificate's subject and issuer as Java's X500Principal
// prints them (toString()), the form EnOS's certificate list shows. Run as a single source
// file: java JavaPrincipals.java cert.pem
import java.io.FileInputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

public class JavaPrincipals {
    public static void main(String[] args) throws Exception {
        try (FileInputStream in = new FileInputStream(args[0])) {
            X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            System.out.println(cert.getSubjectX500Principal().toString());
            System.out.println(cert.getIssuerX500Principal().toString());
        }
    }
}
