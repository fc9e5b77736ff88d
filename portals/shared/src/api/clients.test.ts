import { afterEach, describe, expect, it, vi } from 'vitest';
import { publisherClient, devportalClient } from './clients';
import { AuthSession } from '../auth/session';
import { unwrap, ApiError } from './error';

/** Records requests and answers from a table: the client's own behaviour is under test, not a server's. */
function recorder(answer: (req: Request) => Response) {
  const seen: Request[] = [];
  const fetchFn = vi.fn(async (input: Request | string | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init);
    seen.push(req);
    return answer(req);
  });
  return { seen, fetchFn };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

function jwt(sub: string): string {
  const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '');
  return `${b64({ alg: 'RS256' })}.${b64({ sub })}.sig`;
}

const config = { clientId: 'apim_publisher', basePath: '/publisher', settingsUrl: '/api/am/publisher/v4/settings' };

afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

/** Signs a session in through the real code path: the authorize redirect, then the code redemption. */
async function signedIn(tokenAnswer: () => Response) {
  const session = new AuthSession(config);
  const oauth = recorder((req) => {
    if (req.url.endsWith('/settings')) return json(200, { scopes: ['apim:api_view', 'apim:api_create'] });
    return tokenAnswer();
  });
  const forms: URLSearchParams[] = [];
  vi.stubGlobal('fetch', async (input: string, init?: RequestInit) => {
    if (init?.body instanceof URLSearchParams) forms.push(init.body);
    return oauth.fetchFn(new Request(new URL(input, 'https://portal.test'), { method: init?.method, headers: init?.headers }));
  });
  const assign = vi.fn();
  vi.stubGlobal('location', { ...window.location, origin: 'https://portal.test', assign });
  await session.signIn('/apis?query=pizza');
  const target = new URL(String(assign.mock.calls[0]?.[0]), 'https://portal.test');
  const state = target.searchParams.get('state') ?? '';
  await session.completeSignIn(new URLSearchParams({ code: 'c0de', state }));
  return { session, target, forms };
}

describe('sign-in (authorization code + PKCE)', () => {
  it('asks for the settings scopes with an S256 challenge and redeems the code with its verifier', async () => {
    const { session, target, forms } = await signedIn(() => json(200, { access_token: jwt('admin'), refresh_token: 'r1', expires_in: 3600, scope: 'apim:api_view' }));
    expect(target.pathname).toBe('/oauth2/authorize');
    expect(target.searchParams.get('client_id')).toBe('apim_publisher');
    expect(target.searchParams.get('scope')).toBe('apim:api_view apim:api_create');
    expect(target.searchParams.get('code_challenge_method')).toBe('S256');
    expect(target.searchParams.get('redirect_uri')).toBe('https://portal.test/publisher/callback');
    const redeem = forms[0];
    expect(redeem?.get('grant_type')).toBe('authorization_code');
    const verifier = redeem?.get('code_verifier') ?? '';
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const challenge = btoa(String.fromCharCode(...digest)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(challenge).toBe(target.searchParams.get('code_challenge'));
    expect(session.user()).toEqual({ username: 'admin', scopes: ['apim:api_view'] });
    expect(sessionStorage.length).toBe(0);
  });

  it('refuses an answer whose state does not match', async () => {
    const session = new AuthSession(config);
    sessionStorage.setItem('apim.signin.apim_publisher', JSON.stringify({ state: 'a', verifier: 'v', returnTo: '/' }));
    await expect(session.completeSignIn(new URLSearchParams({ code: 'c', state: 'b' }))).rejects.toThrow(/does not match/);
    expect(session.user()).toBeUndefined();
  });
});

describe('REST clients', () => {
  it('send the access token, refreshed once when it is about to expire', async () => {
    let issued = 0;
    const { session, forms } = await signedIn(() => {
      issued += 1;
      return json(200, { access_token: jwt(`admin${issued}`), refresh_token: `r${issued}`, expires_in: issued === 1 ? 10 : 3600, scope: 'apim:api_view' });
    });
    const api = recorder(() => json(200, { count: 0, list: [] }));
    const client = publisherClient(session, { origin: 'https://portal.test', fetch: api.fetchFn as unknown as typeof fetch });
    await Promise.all([client.GET('/apis'), client.GET('/apis')]);
    expect(forms.filter((f) => f.get('grant_type') === 'refresh_token')).toHaveLength(1);
    expect(api.seen.map((r) => r.headers.get('Authorization'))).toEqual([`Bearer ${jwt('admin2')}`, `Bearer ${jwt('admin2')}`]);
    expect(new URL(api.seen[0]!.url).pathname).toBe('/api/am/publisher/v4/apis');
  });

  it('call anonymously when signed out, and a 401 ends the session', async () => {
    const anonymous = new AuthSession({ ...config, clientId: 'apim_devportal' });
    const api = recorder(() => json(200, { count: 0, list: [] }));
    await devportalClient(anonymous, { origin: 'https://portal.test', fetch: api.fetchFn as unknown as typeof fetch }).GET('/apis');
    expect(api.seen[0]?.headers.has('Authorization')).toBe(false);

    const { session } = await signedIn(() => json(200, { access_token: jwt('admin'), expires_in: 3600, scope: '' }));
    const refusing = recorder(() => json(401, { code: 900901, message: 'Invalid Credentials', description: 'the token is revoked' }));
    const client = publisherClient(session, { origin: 'https://portal.test', fetch: refusing.fetchFn as unknown as typeof fetch });
    const result = await client.GET('/apis');
    expect(() => unwrap(result)).toThrowError(ApiError);
    expect(session.user()).toBeUndefined();
  });
});

describe('sign-out', () => {
  it('revokes the refresh token and the access token as the public client, then forgets them', async () => {
    const { session, forms } = await signedIn(() => json(200, { access_token: jwt('admin'), refresh_token: 'r1', expires_in: 3600, scope: '' }));
    await session.signOut();
    const revoked = forms.filter((f) => f.has('token')).map((f) => [f.get('token'), f.get('token_type_hint'), f.get('client_id')]);
    expect(revoked).toEqual([
      [jwt('admin'), 'access_token', 'apim_publisher'],
      ['r1', 'refresh_token', 'apim_publisher'],
    ]);
    expect(session.user()).toBeUndefined();
    expect(await session.accessToken()).toBeUndefined();
  });
});
