// P11kmsJava.java - Java against the built p11kms module, as Java applications use it: through
// the SunPKCS11 provider (KeyGenerator, Cipher, KeyStore - also secret key entries stored in one
// JVM and used in another -, AES/KWP key wrapping), checked against
// the JDK's own SunJCE, and through SunPKCS11's low-level wrapper for the vendor envelope
// mechanism with an encryption context. One step per JVM (java.sh runs them); a step prints one
// "ok - " or "FAIL - " line per check ("skip - " for what this Java cannot do) and exits 1 when a
// check failed.
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import sun.security.pkcs11.wrapper.CK_ATTRIBUTE;
import sun.security.pkcs11.wrapper.CK_MECHANISM;
import sun.security.pkcs11.wrapper.CK_TOKEN_INFO;
import sun.security.pkcs11.wrapper.PKCS11;
import sun.security.pkcs11.wrapper.PKCS11Constants;
import sun.security.pkcs11.wrapper.PKCS11Exception;

public final class P11kmsJava {
    private static final long CKR_WRAPPED_KEY_INVALID = 0x110L; /* pkcs11t.h */
    private static int failed;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final byte[] MESSAGE =
            "p11kms from Java: a message longer than one AES block".getBytes(StandardCharsets.UTF_8);

    private static boolean ok(boolean cond, String what) {
        System.out.println((cond ? "ok - " : "FAIL - ") + what);
        if (!cond)
            failed++;
        return cond;
    }

    /* A transformation SunPKCS11 maps in this Java, or null (saying why on a "skip - " line). */
    private static Cipher cipherOrSkip(String transformation, Provider p11) throws Exception {
        try {
            return Cipher.getInstance(transformation, p11);
        } catch (java.security.NoSuchAlgorithmException e) {
            /* Java 17 maps no key wrap cipher; later ones map AES/KWP/NoPadding only for tokens
             * whose CKM_AES_KEY_WRAP_KWP also encrypts and decrypts, not just wraps. */
            System.out.println("skip - SunPKCS11 (Java " + Runtime.version().feature()
                               + ") offers no " + transformation + " for this token");
            return null;
        }
    }

    private static Provider provider(String config) {
        Provider p = Security.getProvider("SunPKCS11").configure(config);
        Security.addProvider(p);
        return p;
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }

    /* encrypt with `enc`, decrypt with `dec`; the same IV or nonce */
    private static boolean roundTrip(String transformation, Provider enc, SecretKey encKey,
                                     Provider dec, SecretKey decKey) throws Exception {
        boolean gcm = transformation.contains("GCM");
        byte[] iv = random(gcm ? 12 : 16);
        Cipher e = Cipher.getInstance(transformation, enc);
        Cipher d = Cipher.getInstance(transformation, dec);
        if (gcm) {
            e.init(Cipher.ENCRYPT_MODE, encKey, new GCMParameterSpec(128, iv));
            e.updateAAD("aad".getBytes(StandardCharsets.UTF_8));
        } else {
            e.init(Cipher.ENCRYPT_MODE, encKey, new IvParameterSpec(iv));
        }
        byte[] ct = e.doFinal(MESSAGE);
        if (gcm) {
            d.init(Cipher.DECRYPT_MODE, decKey, new GCMParameterSpec(128, iv));
            d.updateAAD("aad".getBytes(StandardCharsets.UTF_8));
        } else {
            d.init(Cipher.DECRYPT_MODE, decKey, new IvParameterSpec(iv));
        }
        return !Arrays.equals(ct, MESSAGE) && Arrays.equals(d.doFinal(ct), MESSAGE);
    }

    /* cipher CONFIG: KeyGenerator AES-256 through SunPKCS11 (config: generated keys readable),
     * GCM and CBC round trips both ways against SunJCE with the same key bytes. */
    private static void cipher(String config) throws Exception {
        Provider p11 = provider(config), jce = Security.getProvider("SunJCE");
        KeyGenerator kg = KeyGenerator.getInstance("AES", p11);
        kg.init(256);
        SecretKey key = kg.generateKey();
        ok(key.getAlgorithm().equals("AES"), "KeyGenerator AES through SunPKCS11");
        byte[] raw = key.getEncoded();
        ok(raw != null && raw.length == 32, "a 256-bit key whose value the config made readable");
        SecretKey jceKey = new SecretKeySpec(raw, "AES");
        for (String t : new String[] {"AES/GCM/NoPadding", "AES/CBC/PKCS5Padding"}) {
            ok(roundTrip(t, p11, key, p11, key), t + ": SunPKCS11 encrypts, SunPKCS11 decrypts");
            ok(roundTrip(t, p11, key, jce, jceKey), t + ": SunPKCS11 encrypts, SunJCE decrypts");
            ok(roundTrip(t, jce, jceKey, p11, key), t + ": SunJCE encrypts, SunPKCS11 decrypts");
        }
    }

    /* sensitive CONFIG: a generated key keeps its value inside (the module's default) and still
     * works for both ciphers. */
    private static void sensitive(String config) throws Exception {
        Provider p11 = provider(config);
        KeyGenerator kg = KeyGenerator.getInstance("AES", p11);
        kg.init(256);
        SecretKey key = kg.generateKey();
        ok(key.getEncoded() == null, "by default a generated key's value stays in the module");
        for (String t : new String[] {"AES/GCM/NoPadding", "AES/CBC/PKCS5Padding"})
            ok(roundTrip(t, p11, key, p11, key), t + " round trip with it");
    }

    private static KeyStore keyStore(Provider p11, String pin) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS11", p11);
        ks.load(null, pin == null ? null : pin.toCharArray());
        return ks;
    }

    /* keystore CONFIG LABEL [PIN]: the KMS key is a SecretKey entry named by its label. */
    private static void keystore(String config, String label, String pin) throws Exception {
        Provider p11 = provider(config);
        KeyStore ks = keyStore(p11, pin);
        List<String> aliases = Collections.list(ks.aliases());
        ok(aliases.contains(label), "KeyStore PKCS11 lists the KMS key \"" + label + "\" " + aliases);
        ok(ks.isKeyEntry(label), "  ...as a key entry");
        KeyStore.Entry e = ks.getEntry(label, null);
        ok(e instanceof KeyStore.SecretKeyEntry, "  ...a SecretKeyEntry");
        SecretKey k = ((KeyStore.SecretKeyEntry)e).getSecretKey();
        ok(k.getAlgorithm().equals("AES"), "  ...of algorithm AES");
        ok(k.getEncoded() == null, "  ...whose value never leaves the KMS");
    }

    /* AES/GCM of MESSAGE: the 12-byte IV, then the ciphertext. */
    private static byte[] gcmSeal(Provider p, SecretKey key) throws Exception {
        byte[] iv = random(12);
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
        c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, iv));
        byte[] ct = c.doFinal(MESSAGE);
        byte[] out = Arrays.copyOf(iv, 12 + ct.length);
        System.arraycopy(ct, 0, out, 12, ct.length);
        return out;
    }

    private static byte[] gcmOpen(Provider p, SecretKey key, byte[] in) throws Exception {
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
        c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, Arrays.copyOf(in, 12)));
        return c.doFinal(in, 12, in.length - 12);
    }

    /* keystore-store CONFIG ALIAS DIR: secret key entries stored in the PKCS11 KeyStore (token
     * objects): ALIAS-imported, a key from outside, and ALIAS-generated, a key SunPKCS11 generated
     * in the module; each encrypts a message for keystore-load in another JVM. */
    private static void keystoreStore(String config, String alias, Path dir) throws Exception {
        Provider p11 = provider(config);
        KeyStore ks = keyStore(p11, null);
        SecretKey outside = new SecretKeySpec(random(32), "AES");
        KeyGenerator kg = KeyGenerator.getInstance("AES", p11);
        kg.init(256);
        SecretKey generated = kg.generateKey();

        ks.setEntry(alias + "-imported", new KeyStore.SecretKeyEntry(outside), null);
        ks.setEntry(alias + "-generated", new KeyStore.SecretKeyEntry(generated), null);
        ok(ks.containsAlias(alias + "-imported") && ks.containsAlias(alias + "-generated"),
           "KeyStore.setEntry stores both secret keys as token objects");
        Files.write(dir.resolve("ks-imported"), gcmSeal(Security.getProvider("SunJCE"), outside));
        Files.write(dir.resolve("ks-generated"), gcmSeal(p11, generated));
        ok(true, "messages encrypted with them for the next JVM");
    }

    /* keystore-load CONFIG ALIAS DIR: another JVM finds the entries and decrypts with them. */
    private static void keystoreLoad(String config, String alias, Path dir) throws Exception {
        Provider p11 = provider(config);
        KeyStore ks = keyStore(p11, null);
        List<String> aliases = Collections.list(ks.aliases());
        for (String which : new String[] {"imported", "generated"}) {
            String name = alias + "-" + which;
            ok(aliases.contains(name), "another JVM's KeyStore lists " + name + " " + aliases);
            KeyStore.Entry e = ks.getEntry(name, null);
            ok(e instanceof KeyStore.SecretKeyEntry, "  ...a SecretKeyEntry");
            if (!(e instanceof KeyStore.SecretKeyEntry))
                continue;
            SecretKey k = ((KeyStore.SecretKeyEntry)e).getSecretKey();
            byte[] back = gcmOpen(p11, k, Files.readAllBytes(dir.resolve("ks-" + which)));
            ok(Arrays.equals(back, MESSAGE), "  ...which decrypts what the first JVM encrypted");
        }
    }

    /* kwp-wrap CONFIG LABEL DIR: AES/KWP/NoPadding with the KMS key wraps a fresh data key; the
     * key's bytes and a message SunJCE encrypted with them go to DIR for kwp-unwrap. */
    private static void kwpWrap(String config, String label, Path dir) throws Exception {
        Provider p11 = provider(config);
        SecretKey kms = (SecretKey)keyStore(p11, null).getKey(label, null);
        KeyGenerator kg = KeyGenerator.getInstance("AES", p11);
        kg.init(256);
        SecretKey dk = kg.generateKey();
        Cipher w = cipherOrSkip("AES/KWP/NoPadding", p11);
        if (w == null)
            return;
        w.init(Cipher.WRAP_MODE, kms);
        byte[] wrapped = w.wrap(dk);
        ok(wrapped != null && wrapped.length > 32, "AES/KWP/NoPadding wraps a data key with the KMS key");
        byte[] iv = random(12);
        Cipher e = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
        e.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(dk.getEncoded(), "AES"), new GCMParameterSpec(128, iv));
        Files.write(dir.resolve("kwp.wrapped"), wrapped);
        Files.write(dir.resolve("kwp.key"), dk.getEncoded());
        Files.write(dir.resolve("kwp.iv"), iv);
        Files.write(dir.resolve("kwp.ct"), e.doFinal(MESSAGE));
    }

    /* kwp-unwrap CONFIG LABEL DIR: another JVM unwraps it and decrypts SunJCE's message. */
    private static void kwpUnwrap(String config, String label, Path dir) throws Exception {
        Provider p11 = provider(config);
        SecretKey kms = (SecretKey)keyStore(p11, null).getKey(label, null);
        Cipher u = cipherOrSkip("AES/KWP/NoPadding", p11);
        if (u == null)
            return;
        u.init(Cipher.UNWRAP_MODE, kms);
        SecretKey dk = (SecretKey)u.unwrap(Files.readAllBytes(dir.resolve("kwp.wrapped")), "AES",
                                           Cipher.SECRET_KEY);
        ok(Arrays.equals(dk.getEncoded(), Files.readAllBytes(dir.resolve("kwp.key"))),
           "another JVM unwraps it with AES/KWP/NoPadding: the same key");
        Cipher d = Cipher.getInstance("AES/GCM/NoPadding", p11);
        d.init(Cipher.DECRYPT_MODE, dk, new GCMParameterSpec(128, Files.readAllBytes(dir.resolve("kwp.iv"))));
        ok(Arrays.equals(d.doFinal(Files.readAllBytes(dir.resolve("kwp.ct"))), MESSAGE),
           "  ...which decrypts (SunPKCS11) what SunJCE encrypted with the original");
        byte[] tampered = Files.readAllBytes(dir.resolve("kwp.wrapped"));
        tampered[tampered.length - 1] ^= 1;
        try {
            u.init(Cipher.UNWRAP_MODE, kms);
            u.unwrap(tampered, "AES", Cipher.SECRET_KEY);
            ok(false, "a tampered wrapped key is refused");
        } catch (Exception ex) {
            ok(true, "a tampered wrapped key is refused (" + ex.getClass().getSimpleName() + ")");
        }
    }

    /* ---- the vendor envelope through the low-level wrapper -------------------------------- */

    private static long vendor(Path header) throws IOException {
        for (String line : Files.readAllLines(header)) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 3 && f[0].equals("#define") && f[1].equals("P11KMS_VENDOR_BASE"))
                return Long.decode(f[2].replaceAll("[uUlL]+$", ""));
        }
        throw new IOException("no P11KMS_VENDOR_BASE in " + header);
    }

    /* The canonical context encoding (README), written here independently of the module. */
    private static byte[] encodeContext(Map<String, String> context) {
        List<byte[]> parts = new ArrayList<>();
        int len = 2;
        for (Map.Entry<String, String> e : new TreeMap<>(context).entrySet()) {
            byte[] k = e.getKey().getBytes(StandardCharsets.UTF_8);
            byte[] v = e.getValue().getBytes(StandardCharsets.UTF_8);
            parts.add(k);
            parts.add(v);
            len += 4 + k.length + v.length;
        }
        byte[] out = new byte[len];
        int at = 0;
        out[at++] = (byte)(context.size() >> 8);
        out[at++] = (byte)context.size();
        for (byte[] p : parts) {
            out[at++] = (byte)(p.length >> 8);
            out[at++] = (byte)p.length;
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private static final class Session {
        final PKCS11 p11;
        final long h;

        Session(String module, String token) throws Exception {
            p11 = PKCS11.getInstance(module, "C_GetFunctionList", null, false);
            long slot = -1;
            for (long s : p11.C_GetSlotList(true)) {
                CK_TOKEN_INFO ti = p11.C_GetTokenInfo(s);
                if (new String(ti.label).trim().equals(token))
                    slot = s;
            }
            if (slot < 0)
                throw new IOException("no token " + token);
            h = p11.C_OpenSession(slot, PKCS11Constants.CKF_SERIAL_SESSION | PKCS11Constants.CKF_RW_SESSION,
                                  null, null);
        }

        long find(String label) throws PKCS11Exception {
            p11.C_FindObjectsInit(h, new CK_ATTRIBUTE[] {new CK_ATTRIBUTE(PKCS11Constants.CKA_LABEL, label.toCharArray())});
            long[] found = p11.C_FindObjects(h, 2);
            p11.C_FindObjectsFinal(h);
            return found.length == 1 ? found[0] : -1;
        }

        byte[] value(long key) throws PKCS11Exception {
            CK_ATTRIBUTE[] a = {new CK_ATTRIBUTE(PKCS11Constants.CKA_VALUE)};
            p11.C_GetAttributeValue(h, key, a);
            return a[0].getByteArray();
        }
    }

    private static CK_ATTRIBUTE[] readableAes() {
        return new CK_ATTRIBUTE[] {
            new CK_ATTRIBUTE(PKCS11Constants.CKA_CLASS, PKCS11Constants.CKO_SECRET_KEY),
            new CK_ATTRIBUTE(PKCS11Constants.CKA_KEY_TYPE, PKCS11Constants.CKK_AES),
            new CK_ATTRIBUTE(PKCS11Constants.CKA_TOKEN, false),
            new CK_ATTRIBUTE(PKCS11Constants.CKA_SENSITIVE, false),
            new CK_ATTRIBUTE(PKCS11Constants.CKA_EXTRACTABLE, true),
        };
    }

    /* envelope-wrap MODULE HEADER TOKEN LABEL DIR K=V...: a data key wrapped with
     * CKM_P11KMS_ENVELOPE_ENCODED and the context; the envelope and the key go to DIR. */
    private static void envelopeWrap(String module, Path header, String token, String label, Path dir,
                                     Map<String, String> context) throws Exception {
        Session s = new Session(module, token);
        long kms = s.find(label);
        ok(kms >= 0, "the KMS key found by label through the low-level wrapper");
        CK_ATTRIBUTE[] t = Arrays.copyOf(readableAes(), 6);
        t[5] = new CK_ATTRIBUTE(PKCS11Constants.CKA_VALUE_LEN, 32L);
        long dk = s.p11.C_GenerateKey(s.h, new CK_MECHANISM(PKCS11Constants.CKM_AES_KEY_GEN), t);
        CK_MECHANISM m = new CK_MECHANISM(0x80000000L | vendor(header) | 0x02L, encodeContext(context));
        byte[] env = s.p11.C_WrapKey(s.h, m, kms, dk);
        ok(env != null && env.length > 32, "CKM_P11KMS_ENVELOPE_ENCODED wraps with context " + context);
        Files.write(dir.resolve("envelope"), env);
        Files.write(dir.resolve("envelope.key"), s.value(dk));
    }

    /* envelope-unwrap MODULE HEADER TOKEN LABEL DIR K=V...: another JVM unwraps it with the same
     * context (the same key) and with others (refused). */
    private static void envelopeUnwrap(String module, Path header, String token, String label, Path dir,
                                       Map<String, String> context) throws Exception {
        Session s = new Session(module, token);
        long kms = s.find(label), mech = 0x80000000L | vendor(header) | 0x02L;
        byte[] env = Files.readAllBytes(dir.resolve("envelope"));
        long dk = s.p11.C_UnwrapKey(s.h, new CK_MECHANISM(mech, encodeContext(context)), kms, env, readableAes());
        ok(Arrays.equals(s.value(dk), Files.readAllBytes(dir.resolve("envelope.key"))),
           "another JVM unwraps it with the same context: the same key");
        Map<String, String> wrong = new TreeMap<>(context);
        wrong.put(wrong.keySet().iterator().next(), "someone-else");
        Map<String, String> more = new TreeMap<>(context);
        more.put("extra", "pair");
        for (Map<String, String> bad : List.of(wrong, more, Map.<String, String>of())) {
            try {
                s.p11.C_UnwrapKey(s.h, new CK_MECHANISM(mech, encodeContext(bad)), kms, env, readableAes());
                ok(false, "unwrap with context " + bad + " refused");
            } catch (PKCS11Exception e) {
                ok(e.getErrorCode() == CKR_WRAPPED_KEY_INVALID,
                   "unwrap with context " + bad + " refused: " + e.getMessage());
            }
        }
    }

    private static Map<String, String> pairs(String[] args, int from) {
        Map<String, String> m = new TreeMap<>();
        for (int i = from; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            m.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        return m;
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
        case "cipher":
            cipher(args[1]);
            break;
        case "sensitive":
            sensitive(args[1]);
            break;
        case "keystore":
            keystore(args[1], args[2], args.length > 3 ? args[3] : null);
            break;
        case "keystore-store":
            keystoreStore(args[1], args[2], Path.of(args[3]));
            break;
        case "keystore-load":
            keystoreLoad(args[1], args[2], Path.of(args[3]));
            break;
        case "kwp-wrap":
            kwpWrap(args[1], args[2], Path.of(args[3]));
            break;
        case "kwp-unwrap":
            kwpUnwrap(args[1], args[2], Path.of(args[3]));
            break;
        case "envelope-wrap":
            envelopeWrap(args[1], Path.of(args[2]), args[3], args[4], Path.of(args[5]), pairs(args, 6));
            break;
        case "envelope-unwrap":
            envelopeUnwrap(args[1], Path.of(args[2]), args[3], args[4], Path.of(args[5]), pairs(args, 6));
            break;
        default:
            throw new IllegalArgumentException("unknown step " + args[0]);
        }
        System.exit(failed == 0 ? 0 : 1);
    }
}
