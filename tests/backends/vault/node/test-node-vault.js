// test-node-vault.js - node-vault (npm, an independent Vault client) against the loopback Vault
// test server: transit, rotation, rewrap, datakey, AppRole/Kubernetes/cert login, namespaces,
// tokens, sealed mode and faults. Run by test-server-node-vault.sh (which starts the server).
'use strict';

const fs = require('fs');
const http = require('http');
const nodeVault = require('node-vault');

const env = process.env;
const ADDR = env.P11KMS_VAULT_ADDR;
const TLS_ADDR = env.P11KMS_VAULT_TLS_ADDR;
const ROOT = env.P11KMS_VAULT_ROOT_TOKEN;
const TOO_OLD = 'ciphertext or signature version is disallowed by policy (too old)';
const AUTH_FAILED = 'cipher: message authentication failed';
const DENIED = '1 error occurred:\n\t* permission denied\n\n';
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';

let n = 0;
let failures = 0;

function check(cond, what) {
    n += 1;
    if (cond) {
        console.log(`ok ${n} - ${what}`);
    } else {
        failures += 1;
        console.log(`not ok ${n} - ${what}`);
    }
    return cond;
}

const b64 = (s) => Buffer.from(s).toString('base64');

// The error node-vault rejects with, or null when the call succeeds.
async function failure(promise) {
    try {
        await promise;
        return null;
    } catch (e) {
        return e;
    }
}

async function apiError(promise, status, message) {
    const e = await failure(promise);
    const ok = e !== null && e.response !== undefined && e.response.statusCode === status &&
        (message === undefined || e.message === message);
    if (!ok) console.log(`#   got ${e && e.response ? e.response.statusCode : ''} ${e}`);
    return ok;
}

// The control API (plain JSON over loopback HTTP, no auth).
function control(method, path, body) {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? null : JSON.stringify(body);
        const req = http.request(`${env.P11KMS_VAULT_CONTROL}${path}`, {
            method,
            agent: false,
            headers: data ? { 'Content-Type': 'application/json' } : {},
        }, (res) => {
            let text = '';
            res.on('data', (chunk) => { text += chunk; });
            res.on('end', () => {
                if (res.statusCode >= 400) reject(new Error(`${path}: ${res.statusCode} ${text}`));
                else resolve(JSON.parse(text));
            });
        });
        req.on('error', reject);
        if (data) req.write(data);
        req.end();
    });
}

const requests = async (op) => (await control('GET', '/requests')).requests
    .filter((e) => op === undefined || e.op === op);
const count = async (op) => (await control('GET', '/counters')).requests[op] || 0;

async function transit() {
    const v = nodeVault({ endpoint: ADDR, token: ROOT });
    const health = await v.health();
    check(health.sealed === false && health.initialized === true && health.version,
        'health: unsealed, initialized, version');
    const key = await v.transitReadKey({ name: 'p11kms-derived' });
    check(key.data.derived === true && key.data.latest_version === 1 &&
        key.data.keys['1'] > 0 && key.mount_type === 'transit', 'transitReadKey');
    const ctx = b64('node-ctx');
    const enc = await v.encryptData({ name: 'p11kms-derived', plaintext: b64('node'),
        context: ctx });
    check(enc.data.ciphertext.startsWith('vault:v1:') && enc.data.key_version === 1,
        'encryptData: vault:v1: ciphertext, key_version 1');
    check(Array.isArray(enc.warnings) && enc.warnings.length === 1 &&
        enc.warnings[0].endsWith("captured from the endpoint's path: [name]"),
        'node-vault sends "name" in the body: Vault warns it was replaced by the path');
    const e = (await requests('encrypt')).pop();
    check(e.x_vault_request === null && e.token_source === 'x-vault-token' &&
        e.content_type === 'application/json',
    'node-vault: X-Vault-Token, JSON, no X-Vault-Request');
    const dec = await v.decryptData({ name: 'p11kms-derived', ciphertext: enc.data.ciphertext,
        context: ctx });
    check(dec.data.plaintext === b64('node'), 'decryptData with the same context');
    check(await apiError(v.decryptData({ name: 'p11kms-derived', ciphertext: enc.data.ciphertext,
        context: b64('other') }), 400, AUTH_FAILED), 'decrypt with another context: 400');
    check(await apiError(v.decryptData({ name: 'p11kms-derived',
        ciphertext: enc.data.ciphertext }), 400), 'decrypt without context: 400');
    const ad = await v.write('transit/encrypt/p11kms-plain', { plaintext: b64('x'),
        associated_data: b64('aad') });
    check(await apiError(v.write('transit/decrypt/p11kms-plain', {
        ciphertext: ad.data.ciphertext, associated_data: b64('bad') }), 400, AUTH_FAILED),
    'associated_data binds on a non-derived key');

    await v.transitCreateKey({ name: 'node-rot', derived: true });
    const v1 = (await v.encryptData({ name: 'node-rot', plaintext: b64('r'), context: ctx }))
        .data.ciphertext;
    const rot = await v.write('transit/keys/node-rot/rotate', {});
    check(rot.data.latest_version === 2, 'rotate through write()');
    const rw = await v.rewrapData({ name: 'node-rot', ciphertext: v1, context: ctx });
    check(rw.data.ciphertext.startsWith('vault:v2:') && rw.data.key_version === 2 &&
        rw.data.plaintext === undefined, 'rewrapData: v1 -> v2, no plaintext');
    await v.write('transit/keys/node-rot/config', { min_decryption_version: 2 });
    check(await apiError(v.decryptData({ name: 'node-rot', ciphertext: v1, context: ctx }),
        400, TOO_OLD), 'below min_decryption_version: 400 too old');
    check((await v.decryptData({ name: 'node-rot', ciphertext: rw.data.ciphertext,
        context: ctx })).data.plaintext === b64('r'), 'the rewrapped ciphertext decrypts');
    const dk = await v.write('transit/datakey/plaintext/p11kms-derived', { context: ctx });
    check(Buffer.from(dk.data.plaintext, 'base64').length === 32 &&
        (await v.decryptData({ name: 'p11kms-derived', ciphertext: dk.data.ciphertext,
            context: ctx })).data.plaintext === dk.data.plaintext, 'datakey/plaintext');
    const wk = await v.write('transit/datakey/wrapped/p11kms-derived', { context: ctx });
    check(wk.data.plaintext === undefined && wk.data.ciphertext.startsWith('vault:v1:'),
        'datakey/wrapped: ciphertext only');
    const cm = await v.write('p11kms-transit/encrypt/p11kms-derived', { plaintext: b64('m'),
        context: ctx });
    check(cm.data.ciphertext.startsWith('vault:v1:') &&
        (await requests('encrypt')).pop().mount === 'p11kms-transit', 'custom mount');
    check(await apiError(v.read('transit/keys/nope'), 404, 'Status 404'),
        'read of a missing key: 404 with empty errors');
    const before = (await requests('encrypt')).length;
    for (let i = 0; i < 5; i += 1) {
        await v.encryptData({ name: 'p11kms-derived', plaintext: b64('k'), context: ctx });
    }
    const conns = new Set((await requests('encrypt')).slice(before).map((x) => x.conn));
    check(conns.size === 1, `keep-alive: 5 requests on ${conns.size} connection(s)`);
}

async function tokensAndNamespaces() {
    const ctx = b64('t');
    const app = nodeVault({ endpoint: ADDR, token: env.P11KMS_VAULT_APP_TOKEN });
    const self = await app.tokenLookupSelf();
    check(self.data.id === env.P11KMS_VAULT_APP_TOKEN && self.data.ttl > 0 &&
        self.data.policies.join() === 'default,p11kms-app', 'tokenLookupSelf');
    const enc = nodeVault({ endpoint: ADDR, token: env.P11KMS_VAULT_ENCRYPT_TOKEN });
    const ct = (await enc.encryptData({ name: 'p11kms-derived', plaintext: b64('p'),
        context: ctx })).data.ciphertext;
    check(await apiError(enc.decryptData({ name: 'p11kms-derived', ciphertext: ct,
        context: ctx }), 403, DENIED), 'encrypt-only token: decrypt 403');
    check(await apiError(nodeVault({ endpoint: ADDR, token: 'hvs.bogus' })
        .encryptData({ name: 'p11kms-derived', plaintext: b64('p'), context: ctx }), 403,
    INVALID_TOKEN), 'bogus token: 403 invalid token');
    const ns = nodeVault({ endpoint: ADDR, token: env.P11KMS_VAULT_NS_TOKEN,
        namespace: env.P11KMS_VAULT_NAMESPACE });
    const nct = (await ns.encryptData({ name: 'p11kms-derived', plaintext: b64('n'),
        context: ctx })).data.ciphertext;
    const e = (await requests('encrypt')).pop();
    check(e.namespace === 'p11kms-ns' && e.x_vault_namespace === 'p11kms-ns',
        'namespace option: X-Vault-Namespace header');
    const prefixed = nodeVault({ endpoint: ADDR, token: env.P11KMS_VAULT_NS_TOKEN });
    check((await prefixed.write('p11kms-ns/transit/decrypt/p11kms-derived', { ciphertext: nct,
        context: ctx })).data.plaintext === b64('n'), 'namespace as path prefix');
}

async function logins() {
    const ctx = b64('l');
    const a = nodeVault({ endpoint: ADDR });
    const r = await a.approleLogin({ role_id: env.P11KMS_VAULT_ROLE_ID,
        secret_id: fs.readFileSync(env.P11KMS_VAULT_SECRET_ID_FILE, 'ascii') });
    check(r.auth.client_token.startsWith('hvs.') && r.auth.lease_duration === 3600 &&
        r.auth.renewable === true && a.token === r.auth.client_token, 'approleLogin');
    check((await a.encryptData({ name: 'p11kms-derived', plaintext: b64('a'), context: ctx }))
        .data.key_version === 1, 'the AppRole token encrypts');
    const renewed = await a.tokenRenewSelf();
    check(renewed.auth.client_token === r.auth.client_token &&
        renewed.auth.lease_duration === 3600, 'tokenRenewSelf (no body)');
    await control('POST', '/expire-tokens', {});
    check(await apiError(a.encryptData({ name: 'p11kms-derived', plaintext: b64('a'),
        context: ctx }), 403, INVALID_TOKEN), 'expired login token: 403 invalid token');
    await a.approleLogin({ role_id: env.P11KMS_VAULT_ROLE_ID,
        secret_id: env.P11KMS_VAULT_SECRET_ID });
    check((await a.encryptData({ name: 'p11kms-derived', plaintext: b64('a'), context: ctx }))
        .data.ciphertext, 're-login: works again');
    check(await apiError(nodeVault({ endpoint: ADDR }).approleLogin({
        role_id: env.P11KMS_VAULT_ROLE_ID, secret_id: 'wrong' }), 400,
    'invalid role or secret ID'), 'approleLogin with a wrong secret_id: 400');

    // node-vault 0.12.0 renders its path template from the call's arguments only, so without
    // mount_point the client option kubernetesPath is lost and it posts to /v1/auth//login.
    const jwt = fs.readFileSync(env.P11KMS_VAULT_K8S_JWT_FILE, 'ascii');
    const k = nodeVault({ endpoint: ADDR });
    const quirk = await failure(k.kubernetesLogin({ role: env.P11KMS_VAULT_K8S_ROLE, jwt }));
    check(quirk !== null && quirk.response.statusCode === 404 &&
        (await requests()).pop().path === '/v1/auth//login',
    'kubernetesLogin without mount_point: node-vault posts to /v1/auth//login, 404');
    const kr = await k.kubernetesLogin({ role: env.P11KMS_VAULT_K8S_ROLE, jwt,
        mount_point: 'kubernetes' });
    check(kr.auth.metadata.service_account_name === 'p11kms-sa' &&
        (await requests('kubernetes-login')).pop().path === '/v1/auth/kubernetes/login' &&
        k.token === kr.auth.client_token, 'kubernetesLogin with mount_point: logged in');
    check(await apiError(nodeVault({ endpoint: ADDR }).kubernetesLogin({
        role: env.P11KMS_VAULT_K8S_ROLE, mount_point: 'kubernetes',
        jwt: fs.readFileSync(env.P11KMS_VAULT_K8S_OTHER_JWT_FILE, 'ascii') }), 403,
    'service account name not authorized'), 'kubernetesLogin, unbound service account: 403');

    const tlsOptions = {
        ca: fs.readFileSync(env.P11KMS_VAULT_CACERT),
        cert: fs.readFileSync(env.P11KMS_VAULT_CLIENT_CERT),
        key: fs.readFileSync(env.P11KMS_VAULT_CLIENT_KEY),
    };
    const c = nodeVault({ endpoint: TLS_ADDR, requestOptions: tlsOptions });
    const cr = await c.certLogin({});
    check(cr.auth.metadata.common_name === 'p11kms-client' && c.token === cr.auth.client_token,
        'certLogin over HTTPS with the client certificate');
    check((await c.encryptData({ name: 'p11kms-derived', plaintext: b64('c'), context: ctx }))
        .data.ciphertext, 'the cert token encrypts over HTTPS');
    const noCert = nodeVault({ endpoint: TLS_ADDR, requestOptions: { ca: tlsOptions.ca } });
    check(await apiError(noCert.certLogin({}), 400, 'client certificate must be supplied'),
        'certLogin without a client certificate: 400');
    const wrongCa = nodeVault({ endpoint: TLS_ADDR,
        requestOptions: { ca: fs.readFileSync(env.P11KMS_VAULT_OTHER_CA) } });
    const err = await failure(wrongCa.health());
    check(err !== null && err.response === undefined, 'HTTPS with the wrong CA is refused');
}

async function faultsAndSealed() {
    const v = nodeVault({ endpoint: ADDR, token: ROOT });
    const ctx = b64('f');
    const enc = () => v.encryptData({ name: 'p11kms-derived', plaintext: b64('f'), context: ctx });
    await control('POST', '/config', { sealed: true });
    check(await apiError(enc(), 503, 'Vault is sealed'), 'sealed: 503 Vault is sealed');
    const h = await v.health();
    check(h.sealed === true, 'sealed: health() resolves with the 503 body');
    await control('POST', '/config', { sealed: false });
    for (const [kind, status] of [['http412', 412], ['http429', 429], ['http500', 500],
        ['http502', 502], ['http503', 503]]) {
        const before = await count('encrypt');
        await control('POST', '/faults', { op: 'encrypt', kind });
        const ok = await apiError(enc(), status);
        check(ok && (await count('encrypt')) - before === 1,
            `${kind}: ApiResponseError ${status}, no retry`);
    }
    await control('POST', '/faults', { op: 'encrypt', kind: 'reset' });
    let e = await failure(enc());
    check(e !== null && e.response === undefined, 'reset: rejected with a network error');
    await control('POST', '/faults', { op: 'encrypt', kind: 'garbage' });
    const g = await failure(enc());
    check(g === null, 'garbage 200 body: node-vault resolves (axios keeps the raw string)');
    await control('POST', '/faults', { op: 'encrypt', kind: 'truncated' });
    e = await failure(enc());
    check(e !== null, 'truncated body: rejected');
    await control('POST', '/config', { require_request_header: true });
    check(await apiError(enc(), 412, "missing 'X-Vault-Request' header"),
        'require_request_header: node-vault sends no X-Vault-Request, 412');
    await control('POST', '/config', { require_request_header: false });
}

(async () => {
    try {
        await transit();
        await tokensAndNamespaces();
        await logins();
        await faultsAndSealed();
    } catch (e) {
        failures += 1;
        console.log(`not ok - unexpected exception: ${e && e.stack ? e.stack : e}`);
    }
    console.log(`1..${n}`);
    process.exit(failures ? 1 : 0);
})();
