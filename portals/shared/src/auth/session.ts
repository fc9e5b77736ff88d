// Sign-in through the key manager: OAuth2 authorization code with PKCE (S256) as a public client. Tokens live
// in this object only (memory): no other origin and no storage can read them; a reload signs in again. Only the
// PKCE verifier and state cross the redirect, in sessionStorage, and are removed when the code is redeemed.

import { challengeOf, randomVerifier } from './pkce';

export interface PortalAuthConfig {
  /** The public client registered by the control plane: `apim_publisher`, `apim_devportal`, `apim_admin`. */
  clientId: string;
  /** Where the portal is served: `/publisher`. */
  basePath: string;
  /** The portal's REST API settings (anonymous): their `scopes` are asked for. */
  settingsUrl: string;
  /** The key manager's OAuth2 endpoints (`/oauth2`). */
  oauth2Base?: string;
}

export interface SignedInUser {
  username: string;
  scopes: string[];
}

interface Tokens {
  access: string;
  refresh?: string;
  expiresAt: number;
  user: SignedInUser;
}

interface PendingSignIn {
  state: string;
  verifier: string;
  returnTo: string;
}

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  scope?: string;
}

/** Refreshed this long before it expires. */
const EARLY_REFRESH_MS = 30_000;

export class SignInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignInError';
  }
}

export class AuthSession {
  readonly config: PortalAuthConfig;
  private tokens: Tokens | undefined;
  private refreshing: Promise<boolean> | undefined;
  private listeners = new Set<() => void>();

  constructor(config: PortalAuthConfig) {
    this.config = config;
  }

  get redirectUri(): string {
    return `${window.location.origin}${this.config.basePath}/callback`;
  }

  private get oauth2(): string {
    return this.config.oauth2Base ?? '/oauth2';
  }

  private get pendingKey(): string {
    return `apim.signin.${this.config.clientId}`;
  }

  /** The signed-in user, or undefined. */
  user(): SignedInUser | undefined {
    return this.tokens?.user;
  }

  hasScope(scope: string): boolean {
    return this.tokens?.user.scopes.includes(scope) ?? false;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Leaves for the key manager's sign-in page; `returnTo` is the portal path to come back to. */
  async signIn(returnTo: string): Promise<void> {
    const settings = await fetch(this.config.settingsUrl, { headers: { Accept: 'application/json' } });
    if (!settings.ok) throw new SignInError(`the portal settings cannot be read (HTTP ${settings.status})`);
    const scopes = ((await settings.json()) as { scopes?: string[] }).scopes ?? [];
    const pending: PendingSignIn = { state: randomVerifier(), verifier: randomVerifier(), returnTo };
    sessionStorage.setItem(this.pendingKey, JSON.stringify(pending));
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: this.config.clientId,
      redirect_uri: this.redirectUri,
      scope: scopes.join(' '),
      state: pending.state,
      code_challenge: await challengeOf(pending.verifier),
      code_challenge_method: 'S256',
    });
    window.location.assign(`${this.oauth2}/authorize?${q.toString()}`);
  }

  /** Redeems the code the key manager sent back (the callback's query); returns the path to go back to. */
  async completeSignIn(query: URLSearchParams): Promise<string> {
    const raw = sessionStorage.getItem(this.pendingKey);
    sessionStorage.removeItem(this.pendingKey);
    const error = query.get('error');
    if (error) throw new SignInError(query.get('error_description') ?? error);
    if (!raw) throw new SignInError('no sign-in was started in this tab; sign in again');
    const pending = JSON.parse(raw) as PendingSignIn;
    if (query.get('state') !== pending.state) throw new SignInError('the sign-in answer does not match the request; sign in again');
    const code = query.get('code');
    if (!code) throw new SignInError('the key manager sent no authorization code');
    await this.tokenRequest({
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.redirectUri,
      client_id: this.config.clientId,
      code_verifier: pending.verifier,
    });
    return pending.returnTo.startsWith('/') ? pending.returnTo : '/';
  }

  /** A valid access token (refreshed when about to expire), or undefined when signed out. */
  async accessToken(): Promise<string | undefined> {
    const t = this.tokens;
    if (!t) return undefined;
    if (Date.now() < t.expiresAt - EARLY_REFRESH_MS) return t.access;
    return (await this.refresh()) ? this.tokens?.access : undefined;
  }

  /** Uses the refresh token (one request at a time); on failure the session ends. */
  refresh(): Promise<boolean> {
    const refresh = this.tokens?.refresh;
    if (!refresh) {
      this.clear();
      return Promise.resolve(false);
    }
    this.refreshing ??= this.tokenRequest({ grant_type: 'refresh_token', refresh_token: refresh, client_id: this.config.clientId })
      .then(() => true)
      .catch(() => {
        this.clear();
        return false;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** Revokes the refresh token (which takes its access tokens along) and forgets everything. */
  async signOut(): Promise<void> {
    const t = this.tokens;
    this.clear();
    if (!t) return;
    const revoke = (token: string, hint: string) =>
      fetch(`${this.oauth2}/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: hint, client_id: this.config.clientId }),
      }).catch(() => undefined);
    await Promise.all([revoke(t.access, 'access_token'), t.refresh ? revoke(t.refresh, 'refresh_token') : undefined]);
  }

  /** The server refused the token (401): the session is over. */
  expired(): void {
    this.clear();
  }

  private clear(): void {
    if (this.tokens) {
      this.tokens = undefined;
      this.changed();
    }
  }

  private async tokenRequest(form: Record<string, string>): Promise<void> {
    const r = await fetch(`${this.oauth2}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(form),
    });
    const body = (await r.json().catch(() => ({}))) as Partial<TokenResponse> & { error?: string; error_description?: string };
    if (!r.ok || !body.access_token) {
      throw new SignInError(body.error_description ?? body.error ?? `the token endpoint answered HTTP ${r.status}`);
    }
    this.tokens = {
      access: body.access_token,
      refresh: body.refresh_token ?? this.tokens?.refresh,
      expiresAt: Date.now() + (body.expires_in ?? 0) * 1000,
      user: { username: subjectOf(body.access_token) ?? this.tokens?.user.username ?? 'signed in', scopes: (body.scope ?? '').split(' ').filter(Boolean) },
    };
    this.changed();
  }
}

/** The `sub` of a JWT access token, for display only (the server checks the token). */
export function subjectOf(token: string): string | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}
