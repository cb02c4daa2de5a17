// A TLS client as Java (Tableau's runtime) is one, for tests/unit/handshake.py:
//   java JavaTlsProbe ROOTS.pem HOST PORT
// connects to 127.0.0.1:PORT as HOST, trusting only ROOTS.pem (PKIX, HTTPS endpoint
// identification), and prints "OK <protocol>" or "REFUSED <why>".
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.Socket;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class JavaTlsProbe {
    public static void main(String[] args) throws Exception {
        KeyStore roots = KeyStore.getInstance(KeyStore.getDefaultType());
        roots.load(null, null);
        int count = 0;
        try (InputStream in = new FileInputStream(args[0])) {
            for (Certificate root : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                roots.setCertificateEntry("root" + count++, root);
            }
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance("PKIX");
        trust.init(roots);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        int port = Integer.parseInt(args[2]);
        try (Socket plain = new Socket("127.0.0.1", port);
             SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, args[1], port, true)) {
            SSLParameters parameters = tls.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            tls.setSSLParameters(parameters);
            tls.startHandshake();
            System.out.println("OK " + tls.getSession().getProtocol());
        } catch (SSLException refused) {
            System.out.println("REFUSED " + refused.getMessage());
        }
    }
}
