// A real OpenID provider (oidc-provider, a certified implementation) for tests/suite/oidc.rs,
// on a free 127.0.0.1 port over plain http. One confidential client (code flow, PKCE S256
// required); whoever signs in is the account in $OIDC_ACCOUNT_FILE at that moment
// ({"sub", "email", "email_verified", "name"}), so a test chooses the person; login and
// consent need no one at a keyboard. Listens on $OIDC_PORT (default: any free port) and
// writes its issuer URL (http://$OIDC_ISSUER_HOST:port, default host 127.0.0.1) to
// $OIDC_ISSUER_FILE once it does.
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const {
  OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI, OIDC_ACCOUNT_FILE, OIDC_ISSUER_FILE, OIDC_PORT,
  OIDC_ISSUER_HOST = '127.0.0.1', OIDC_KEY_FILE,
} = process.env;
const SCOPE = 'openid email profile';

const account = () => JSON.parse(readFileSync(OIDC_ACCOUNT_FILE, 'utf8'));

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(OIDC_PORT || 0), '127.0.0.1', resolve));
const issuer = `http://${OIDC_ISSUER_HOST}:${server.address().port}`;

// A signing key of this run's own (a provider started again has rotated its keys), or
// the one kept in $OIDC_KEY_FILE when that is set.
const newKey = () => ({
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  use: 'sig',
  alg: 'RS256',
});
const signingKey = OIDC_KEY_FILE && existsSync(OIDC_KEY_FILE) ? JSON.parse(readFileSync(OIDC_KEY_FILE, 'utf8')) : newKey();
if (OIDC_KEY_FILE) writeFileSync(OIDC_KEY_FILE, JSON.stringify(signingKey));

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [{
    client_id: OIDC_CLIENT_ID,
    client_secret: OIDC_CLIENT_SECRET,
    redirect_uris: [OIDC_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['streambox-oidc-tests'] },
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => {
      const person = account();
      return { sub, email: person.email, email_verified: person.email_verified, name: person.name };
    },
  }),
  // Consent is given at once: the test's person always agrees.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(SCOPE);
    await grant.save();
    return grant;
  },
});

// The login prompt signs in the account of the file, with no form.
const interactions = /^\/interaction\/[^/]+$/;
const serve = provider.callback();
server.on('request', async (req, res) => {
  if (req.method !== 'GET' || !interactions.test(req.url)) {
    serve(req, res);
    return;
  }
  try {
    await provider.interactionFinished(req, res, { login: { accountId: account().sub } }, { mergeWithLastSubmission: false });
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
});

// Written whole (a rename), so the test never reads half of it.
writeFileSync(`${OIDC_ISSUER_FILE}.part`, issuer);
renameSync(`${OIDC_ISSUER_FILE}.part`, OIDC_ISSUER_FILE);
