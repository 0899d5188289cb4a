// test-kms-client.js - @google-cloud/kms (REST fallback) and google-auth-library, independent
// clients, against the loopback Google Cloud KMS server: encrypt/decrypt with AAD and CRC32C
// (checked with @aws-crypto/crc32c), asymmetricSign and getPublicKey verified with node's
// crypto, asymmetricDecrypt, errors, and the credential flows (self-signed JWT, authorized user,
// workload identity federation with and without impersonation, metadata server, HTTPS).
// Run by test-server-node-kms.sh with the environment of gcp-env.sh. Output: TAP.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const {KeyManagementServiceClient} = require('@google-cloud/kms');
const {UserRefreshClient} = require('google-auth-library');
const {crc32c} = require('@aws-crypto/crc32c');

const env = process.env;
const STATE = env.P11KMS_GCP_STATE_DIR;
const PORT = parseInt(env.P11KMS_GCP_PORT, 10);
const TLS_PORT = parseInt(env.P11KMS_GCP_TLS_PORT, 10);
const CONTROL = env.P11KMS_GCP_CONTROL;
const RING = 'projects/p11kms-test/locations/global/keyRings/p11kms-ring';
const KEY = RING + '/cryptoKeys/p11kms-key';
const ROTATED = RING + '/cryptoKeys/p11kms-rotated';
const SA_MAIN = 'p11kms-test@p11kms-test.iam.gserviceaccount.com';
const SA_GCE = 'p11kms-gce@p11kms-test.iam.gserviceaccount.com';
const WORKLOAD = 'principal://iam.googleapis.com/projects/123456789012/locations/global/' +
    'workloadIdentityPools/p11kms-pool/subject/p11kms-workload';

let n = 0;
let failures = 0;

function check(cond, what) {
  n += 1;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${what}`);
  if (!cond) failures += 1;
  return cond;
}

function client(opts) {
  return new KeyManagementServiceClient(Object.assign(
      {fallback: true, apiEndpoint: '127.0.0.1', port: PORT, protocol: 'http'}, opts));
}

async function ctl(method, p, body) {
  const r = await fetch(CONTROL + p, {
    method,
    headers: {'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await r.json();
  if (r.status >= 400) throw new Error(`control ${method} ${p}: ${JSON.stringify(answer)}`);
  return answer;
}

async function lastEntry(op) {
  const {requests} = await ctl('GET', '/requests');
  const all = requests.filter((e) => e.op === op);
  return all[all.length - 1] || {};
}

// google-gax 5.0.x on gaxios 7 hands REST errors over as GaxiosError (HTTP status in .status,
// the body text in .message) instead of a GoogleError with a gRPC code: the google.rpc.Status
// is read from the body here.
async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    let status = null;
    let message = null;
    try {
      const body = JSON.parse(e.message);
      status = body.error.status;
      message = body.error.message;
    } catch (_) {
      status = e.details || null;
      message = e.message;
    }
    return {http: e.status || (e.response && e.response.status) || null, status, message,
      code: e.code};
  }
  return null;
}

const crcOf = (buf) => String(crc32c(buf));
const crcValue = (v) => (v === null || v === undefined ? null : String(v.value));

async function testSymmetric() {
  const kms = client({keyFilename: path.join(STATE, 'sa-key.json')});
  const pt = crypto.randomBytes(32);
  const aad = Buffer.from('p11kms context v1');
  const [enc] = await kms.encrypt({name: KEY, plaintext: pt, additionalAuthenticatedData: aad,
    plaintextCrc32c: {value: crc32c(pt)}, additionalAuthenticatedDataCrc32c: {value: crc32c(aad)}});
  check(enc.name === KEY + '/cryptoKeyVersions/1', 'encrypt: the primary version name');
  check(crcValue(enc.ciphertextCrc32c) === crcOf(enc.ciphertext),
      'ciphertextCrc32c matches @aws-crypto/crc32c of the ciphertext');
  check(enc.verifiedPlaintextCrc32c === true &&
      enc.verifiedAdditionalAuthenticatedDataCrc32c === true, 'both request CRCs verified');
  check(enc.protectionLevel === 'SOFTWARE', 'numeric enum decoded to SOFTWARE by the client');
  const e = await lastEntry('Encrypt');
  check(e.token_kind === 'self-signed-jwt' && e.principal === SA_MAIN,
      'the client authenticated with a self-signed JWT the server verified');
  check(e.numeric_enums === true && /gapic\/5\.7\.0/.test(e.api_client || '') &&
      (e.request_params || '').startsWith('name=projects%2F'),
      'gax sent $alt=json;enum-encoding=int, x-goog-api-client and x-goog-request-params');
  const [dec] = await kms.decrypt({name: KEY, ciphertext: enc.ciphertext,
    additionalAuthenticatedData: aad, ciphertextCrc32c: {value: crc32c(enc.ciphertext)},
    additionalAuthenticatedDataCrc32c: {value: crc32c(aad)}});
  check(Buffer.compare(Buffer.from(dec.plaintext), pt) === 0, 'decrypt with the AAD');
  check(crcValue(dec.plaintextCrc32c) === crcOf(pt) && dec.usedPrimary === true,
      'decrypt: plaintextCrc32c right, usedPrimary');
  let f = await failure(kms.decrypt({name: KEY, ciphertext: enc.ciphertext,
    additionalAuthenticatedData: Buffer.from('p11kms context v2')}));
  check(f && f.http === 400 && f.status === 'INVALID_ARGUMENT' &&
      f.message === 'Decryption failed: verify that \'name\' refers to the correct CryptoKey.',
  'wrong AAD: 400 INVALID_ARGUMENT, Decryption failed');
  f = await failure(kms.encrypt({name: KEY, plaintext: pt,
    plaintextCrc32c: {value: (crc32c(pt) ^ 1) >>> 0}}));
  check(f && f.http === 400 && f.status === 'INVALID_ARGUMENT', 'a wrong request CRC: 400');
  f = await failure(kms.encrypt({name: RING + '/cryptoKeys/missing', plaintext: pt}));
  check(f && f.http === 404 && f.status === 'NOT_FOUND', 'unknown key: 404 NOT_FOUND');
  f = await failure(kms.encrypt({name: RING + '/cryptoKeys/p11kms-disabled', plaintext: pt}));
  check(f && f.http === 400 && f.status === 'FAILED_PRECONDITION' &&
      /is not enabled, current state is: DISABLED\.$/.test(f.message),
  'disabled primary: 400 FAILED_PRECONDITION');
  const enc2 = client({keyFilename: path.join(STATE, 'sa-encrypter.json')});
  f = await failure(enc2.decrypt({name: KEY, ciphertext: enc.ciphertext,
    additionalAuthenticatedData: aad}));
  check(f && f.http === 403 && f.status === 'PERMISSION_DENIED' &&
      f.message.includes('cloudkms.cryptoKeyVersions.useToDecrypt'),
  'encrypter-only identity may not decrypt: 403 PERMISSION_DENIED');
  await ctl('POST', '/faults', {op: 'Encrypt', kind: 'http503'});
  f = await failure(kms.encrypt({name: KEY, plaintext: pt}));
  check(f && f.http === 503 && f.status === 'UNAVAILABLE', 'fault http503: 503 UNAVAILABLE');
  await ctl('DELETE', '/faults');
}

async function testAdmin() {
  const kms = client({keyFilename: path.join(STATE, 'sa-key.json')});
  const [key] = await kms.getCryptoKey({name: KEY});
  check(key.purpose === 'ENCRYPT_DECRYPT' && key.primary.name === KEY + '/cryptoKeyVersions/1' &&
      key.primary.state === 'ENABLED' &&
      key.versionTemplate.algorithm === 'GOOGLE_SYMMETRIC_ENCRYPTION',
  'getCryptoKey: purpose, primary, algorithm');
  const [versions] = await kms.listCryptoKeyVersions({parent: ROTATED});
  check(versions.map((v) => v.state).join(',') === 'ENABLED,ENABLED,DISABLED,DESTROYED',
      'listCryptoKeyVersions: the rotated key\'s four versions and states');
  const [created] = await kms.createCryptoKey({parent: RING, cryptoKeyId: 'node-created',
    cryptoKey: {purpose: 'ENCRYPT_DECRYPT'}});
  check(created.name === RING + '/cryptoKeys/node-created' && created.primary &&
      created.primary.state === 'ENABLED', 'createCryptoKey with a first version');
  const [v2] = await kms.createCryptoKeyVersion({parent: created.name, cryptoKeyVersion: {}});
  const [rotated] = await kms.updateCryptoKeyPrimaryVersion({name: created.name,
    cryptoKeyVersionId: '2'});
  check(v2.name.endsWith('/cryptoKeyVersions/2') && rotated.primary.name === v2.name,
      'createCryptoKeyVersion + updateCryptoKeyPrimaryVersion rotate the primary');
  const [enc] = await kms.encrypt({name: created.name, plaintext: Buffer.from('x')});
  check(enc.name === v2.name, 'encrypt uses the new primary');
  const [off] = await kms.updateCryptoKeyVersion({cryptoKeyVersion: {name: v2.name,
    state: 'DISABLED'}, updateMask: {paths: ['state']}});
  check(off.state === 'DISABLED', 'updateCryptoKeyVersion disables a version');
}

async function testAsymmetric() {
  const kms = client({keyFilename: path.join(STATE, 'sa-key.json')});
  const cases = [
    ['p11kms-sign-p256', 'sha256', 'EC_SIGN_P256_SHA256', {}],
    ['p11kms-sign-p384', 'sha384', 'EC_SIGN_P384_SHA384', {}],
    ['p11kms-sign-rsa2048', 'sha256', 'RSA_SIGN_PKCS1_2048_SHA256',
      {padding: crypto.constants.RSA_PKCS1_PADDING}],
    ['p11kms-sign-rsa3072', 'sha256', 'RSA_SIGN_PKCS1_3072_SHA256',
      {padding: crypto.constants.RSA_PKCS1_PADDING}],
    ['p11kms-sign-pss2048', 'sha256', 'RSA_SIGN_PSS_2048_SHA256',
      {padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32}],
  ];
  const msg = Buffer.from('p11kms signs this');
  for (const [id, hash, algorithm, opts] of cases) {
    const name = `${RING}/cryptoKeys/${id}/cryptoKeyVersions/1`;
    const [pub] = await kms.getPublicKey({name});
    check(pub.algorithm === algorithm && crcValue(pub.pemCrc32c) === crcOf(Buffer.from(pub.pem)),
        `${id}: getPublicKey PEM, algorithm, pemCrc32c`);
    const digest = crypto.createHash(hash).update(msg).digest();
    const [sig] = await kms.asymmetricSign({name, digest: {[hash]: digest},
      digestCrc32c: {value: crc32c(digest)}});
    const key = crypto.createPublicKey(pub.pem);
    const ok = crypto.verify(hash, msg, Object.assign({key}, opts), Buffer.from(sig.signature));
    check(ok && sig.verifiedDigestCrc32c === true && sig.name === name &&
        crcValue(sig.signatureCrc32c) === crcOf(Buffer.from(sig.signature)),
    `${id}: asymmetricSign verified by node crypto, CRCs both ways`);
  }
  const wrong = await failure(kms.asymmetricSign({
    name: `${RING}/cryptoKeys/p11kms-sign-p384/cryptoKeyVersions/1`,
    digest: {sha256: crypto.createHash('sha256').update(msg).digest()}}));
  check(wrong && wrong.http === 400 && wrong.status === 'INVALID_ARGUMENT',
      'a SHA-256 digest for a P-384/SHA-384 key: INVALID_ARGUMENT');
  for (const id of ['p11kms-decrypt-rsa2048', 'p11kms-decrypt-rsa3072']) {
    const name = `${RING}/cryptoKeys/${id}/cryptoKeyVersions/1`;
    const [pub] = await kms.getPublicKey({name});
    const secret = crypto.randomBytes(32);
    const ct = crypto.publicEncrypt({key: pub.pem, oaepHash: 'sha256',
      padding: crypto.constants.RSA_PKCS1_OAEP_PADDING}, secret);
    const [dec] = await kms.asymmetricDecrypt({name, ciphertext: ct,
      ciphertextCrc32c: {value: crc32c(ct)}});
    check(Buffer.compare(Buffer.from(dec.plaintext), secret) === 0 &&
        dec.verifiedCiphertextCrc32c === true &&
        crcValue(dec.plaintextCrc32c) === crcOf(secret),
    `${id}: node crypto OAEP-SHA256 ciphertext opened by asymmetricDecrypt`);
  }
}

async function testCredentials() {
  const u = JSON.parse(fs.readFileSync(path.join(STATE, 'authorized-user-quota.json')));
  // google-auth-library takes Google's token URL for authorized_user files; the file's
  // token_uri is handed over as the endpoint, the refresh grant itself is the library's.
  const user = new UserRefreshClient({clientId: u.client_id, clientSecret: u.client_secret,
    refreshToken: u.refresh_token, endpoints: {oauth2TokenUrl: u.token_uri}});
  user.quotaProjectId = u.quota_project_id;
  await client({authClient: user}).encrypt({name: KEY, plaintext: Buffer.from('u')});
  let e = await lastEntry('Encrypt');
  check(e.principal === 'p11kms-user@example.com' && e.token_kind === 'access',
      'authorized_user: refresh_token grant, KMS call as the user');
  check(e.quota_project === 'p11kms-quota', 'quota_project_id sent as x-goog-user-project');
  for (const [file, who, grants] of [
    ['external-account.json', WORKLOAD, ['sts']],
    ['external-account-json.json', WORKLOAD, ['sts']],
    ['external-account-impersonation.json', SA_MAIN, ['sts', 'generateAccessToken']]]) {
    const before = (await ctl('GET', '/counters')).token_grants;
    await client({keyFilename: path.join(STATE, file)}).encrypt({name: KEY,
      plaintext: Buffer.from('wif')});
    e = await lastEntry('Encrypt');
    const after = (await ctl('GET', '/counters')).token_grants;
    check(e.principal === who && grants.every((g) => (after[g] || 0) > (before[g] || 0)),
        `${file}: ${grants.join(' + ')} then KMS as ${who.replace(/^principal:.*\//, '…/')}`);
  }
  const sts = (await ctl('GET', '/requests')).requests.filter((r) => r.op === 'sts');
  check(sts.length >= 3 && sts.every((r) => r.status === 200),
      'STS token exchange verified the OIDC subject token each time');
}

async function testMetadata() {
  // ADC with no key file and no gcloud file: the library probes the metadata server named by
  // GCE_METADATA_HOST and takes the default service account's token.
  const saved = env.GOOGLE_APPLICATION_CREDENTIALS;
  delete env.GOOGLE_APPLICATION_CREDENTIALS;
  try {
    await client({}).encrypt({name: KEY, plaintext: Buffer.from('gce')});
  } finally {
    env.GOOGLE_APPLICATION_CREDENTIALS = saved;
  }
  const e = await lastEntry('Encrypt');
  const md = (await ctl('GET', '/requests')).requests.filter((r) => r.listener === 'metadata');
  check(e.principal === SA_GCE && md.some((r) => r.op === 'metadata-token' && r.status === 200),
      'metadata server (GCE_METADATA_HOST): detection, token, KMS call as the VM account');
}

async function testTls() {
  // NODE_EXTRA_CA_CERTS (set by the shell wrapper) trusts the server's test CA.
  const kms = client({keyFilename: path.join(STATE, 'sa-key.json'), port: TLS_PORT,
    protocol: 'https'});
  const [enc] = await kms.encrypt({name: KEY, plaintext: Buffer.from('tls')});
  const e = await lastEntry('Encrypt');
  check(enc.name === KEY + '/cryptoKeyVersions/1' && e.listener === 'https',
      'HTTPS with the test CA');
}

(async () => {
  for (const t of [testSymmetric, testAdmin, testAsymmetric, testCredentials, testMetadata,
    testTls]) {
    try {
      await t();
    } catch (e) {
      check(false, `${t.name} threw: ${(e && e.message || String(e)).slice(0, 300)}`);
    }
  }
  console.log(`1..${n}`);
  process.exit(failures ? 1 : 0);
})();
