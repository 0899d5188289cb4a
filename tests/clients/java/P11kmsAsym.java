// P11kmsAsym.java - Java's SunPKCS11 provider with asymmetric p11kms keys: the KeyStore finds
// each private key with its certificate; Signature SHA256withECDSA and SHA256withRSA sign
// through the module, and the JDK's own providers verify with the certificate's public key. Prints "ok - ..." / "FAIL - ..." lines; arguments: the SunPKCS11
// configuration file.
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.nio.charset.StandardCharsets;

public class P11kmsAsym {
    static int failed = 0;

    static void ok(boolean cond, String what) {
        System.out.println((cond ? "ok - " : "FAIL - ") + what);
        if (!cond)
            failed++;
    }

    public static void main(String[] args) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, null);
        byte[] msg = "signed by a KMS key through SunPKCS11".getBytes(StandardCharsets.UTF_8);
        // RSASSA-PSS is not here: JDK 17's SunPKCS11 refuses PSSParameterSpec("SHA-256", ...) with
        // "Unsupported digest algorithm" before it reaches the module (see README).
        String[][] cases = { { "ec", "SHA256withECDSA" }, { "rsa", "SHA256withRSA" } };
        for (String[] c : cases) {
            PrivateKey key = (PrivateKey) ks.getKey(c[0], null);
            Certificate cert = ks.getCertificate(c[0]);
            ok(key != null && cert != null, "KeyStore: " + c[0] + " private key with its certificate");
            if (key == null || cert == null)
                continue;
            Signature s = Signature.getInstance(c[1], p);
            s.initSign(key);
            s.update(msg);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(c[1]); // the JDK's own provider
            v.initVerify(cert.getPublicKey());
            v.update(msg);
            ok(v.verify(sig), c[1] + " through SunPKCS11 verifies with the JDK's provider");
            v.initVerify(cert.getPublicKey());
            v.update("another message".getBytes(StandardCharsets.UTF_8));
            ok(!v.verify(sig), "  ...and not over another message");
        }
        System.exit(failed == 0 ? 0 : 1);
    }
}
