import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Route, Routes } from 'react-router';
import { RESIDENT, renderSignedIn, scriptedServer } from '../testing';
import { ApplicationPage } from './ApplicationPage';
import { keysAt } from '../queries';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const APP = { applicationId: 'app1', name: 'PizzaApp', throttlingPolicy: 'Unlimited', description: '', tokenType: 'JWT', status: 'APPROVED' };

function page(tab: string) {
  return renderSignedIn(
    <Routes>
      <Route path="/applications/:applicationId/:tab" element={<ApplicationPage />} />
    </Routes>,
    `/applications/app1/${tab}`,
  );
}

describe('keysAt', () => {
  it('finds the keys of a type at a key manager, the resident one also by its other name', () => {
    const list = [
      { keyMappingId: 'a', keyType: 'SANDBOX' as const, keyManager: 'Resident Key Manager' },
      { keyMappingId: 'b', keyType: 'PRODUCTION' as const, keyManager: 'default' },
      { keyMappingId: 'c', keyType: 'PRODUCTION' as const, keyManager: 'Okta' },
    ];
    expect(keysAt(list, 'PRODUCTION', RESIDENT)?.keyMappingId).toBe('b');
    expect(keysAt(list, 'SANDBOX', RESIDENT)?.keyMappingId).toBe('a');
    expect(keysAt(list, 'SANDBOX', { ...RESIDENT, name: 'Okta', type: 'Okta' })).toBeUndefined();
    expect(keysAt(list, 'PRODUCTION', { ...RESIDENT, name: 'Okta', type: 'Okta' })?.keyMappingId).toBe('c');
  });
});

describe('Production keys', () => {
  it('generates keys with the chosen grant types, shows the secret once, and makes an access token with it', async () => {
    const made: unknown[] = [];
    const seen = scriptedServer((method, path) => {
      if (method === 'GET' && path === '/applications/app1') return [200, APP];
      if (method === 'GET' && path === '/key-managers') return [200, { count: 1, list: [RESIDENT] }];
      if (method === 'GET' && path === '/applications/app1/oauth-keys') return [200, { count: made.length, list: made }];
      if (method === 'POST' && path === '/applications/app1/generate-keys') {
        const key = { keyMappingId: 'km1', keyManager: 'Resident Key Manager', consumerKey: 'CK', keyType: 'PRODUCTION', supportedGrantTypes: ['client_credentials', 'password'], callbackUrl: '' };
        made.push(key);
        return [200, { ...key, consumerSecret: 'CS' }];
      }
      if (method === 'POST' && path === '/applications/app1/oauth-keys/km1/generate-token')
        return [200, { accessToken: 'eyJ.token', tokenScopes: ['default'], validityTime: 3600 }];
      return undefined;
    });
    page('production-keys');
    const form = await screen.findByRole('form', { name: 'Generate production keys' });
    expect(within(form).getByLabelText('Client credentials')).toHaveProperty('checked', true);
    fireEvent.click(within(form).getByLabelText('Password'));
    fireEvent.click(within(form).getByRole('button', { name: 'Generate keys' }));

    expect(await screen.findByDisplayValue('CK')).toHaveProperty('readOnly', true);
    expect(screen.getByLabelText('Consumer secret', { selector: 'textarea, input[readonly]' })).toHaveProperty('value', 'CS');
    const generate = seen.find((s) => s.path.endsWith('/generate-keys'));
    expect(generate?.body).toEqual({ keyType: 'PRODUCTION', keyManager: 'Resident Key Manager', grantTypesToBeSupported: ['client_credentials', 'password'] });

    const tokenForm = screen.getByRole('form', { name: 'Generate access token' });
    fireEvent.change(within(tokenForm).getByLabelText(/Validity period/), { target: { value: '600' } });
    fireEvent.click(within(tokenForm).getByRole('button', { name: 'Generate access token' }));
    expect(await screen.findByDisplayValue('eyJ.token')).toBeTruthy();
    const token = seen.find((s) => s.path.endsWith('/generate-token'));
    expect(token?.body).toEqual({ consumerSecret: 'CS', scopes: [], validityPeriod: 600, grantType: 'CLIENT_CREDENTIALS' });
  });

  it("shows the server's message when the keys are refused, and keeps the form", async () => {
    scriptedServer((method, path) => {
      if (path === '/applications/app1') return [200, APP];
      if (path === '/key-managers') return [200, { count: 1, list: [RESIDENT] }];
      if (path === '/applications/app1/oauth-keys') return [200, { count: 0, list: [] }];
      if (method === 'POST') return [409, { code: 409, message: 'Conflict', description: 'the application already has PRODUCTION keys of `Resident Key Manager`' }];
      return undefined;
    });
    page('production-keys');
    fireEvent.click(await screen.findByRole('button', { name: 'Generate keys' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('already has PRODUCTION keys');
    expect(screen.getByRole('button', { name: 'Generate keys' })).toBeTruthy();
  });
});

describe('Keys that exist', () => {
  it('regenerates the secret after asking, and updates grant types and callback URL at the key manager', async () => {
    const key = { keyMappingId: 'km2', keyManager: 'Resident Key Manager', consumerKey: 'CK2', keyType: 'SANDBOX', supportedGrantTypes: ['client_credentials'], callbackUrl: '' };
    const seen = scriptedServer((method, path, body) => {
      if (path === '/applications/app1') return [200, APP];
      if (path === '/key-managers') return [200, { count: 1, list: [RESIDENT] }];
      if (method === 'GET' && path === '/applications/app1/oauth-keys') return [200, { count: 1, list: [key] }];
      if (method === 'POST' && path === '/applications/app1/oauth-keys/km2/regenerate-secret') return [200, { consumerKey: 'CK2', consumerSecret: 'NEW' }];
      if (method === 'PUT' && path === '/applications/app1/oauth-keys/km2') {
        Object.assign(key, body);
        return [200, key];
      }
      return undefined;
    });
    page('sandbox-keys');
    expect(await screen.findByDisplayValue('CK2')).toBeTruthy();
    expect(screen.getByText(/shown once, when it is made/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Regenerate secret' }));
    const dialog = await screen.findByRole('dialog', { name: 'Regenerate consumer secret' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Regenerate' }));
    expect(await screen.findByRole('textbox', { name: 'Consumer secret' })).toHaveProperty('value', 'NEW');
    // The token form takes the new secret.
    expect(within(screen.getByRole('form', { name: 'Generate access token' })).getByLabelText(/Consumer secret/)).toHaveProperty('value', 'NEW');

    const settings = screen.getByRole('form', { name: 'Key settings' });
    fireEvent.click(within(settings).getByLabelText('Authorization code'));
    fireEvent.change(within(settings).getByLabelText('Callback URL'), { target: { value: 'https://app.example.com/cb' } });
    fireEvent.click(within(settings).getByRole('button', { name: 'Update' }));
    expect(await within(settings).findByText('Saved.')).toBeTruthy();
    expect(seen.find((s) => s.method === 'PUT')?.body).toEqual({
      supportedGrantTypes: ['client_credentials', 'authorization_code'],
      callbackUrl: 'https://app.example.com/cb',
    });
  });
});

describe('Remove keys', () => {
  it('cleans the keys up after asking, and offers to generate new ones', async () => {
    let list = [{ keyMappingId: 'km3', keyManager: 'Resident Key Manager', consumerKey: 'CK3', keyType: 'PRODUCTION', supportedGrantTypes: ['client_credentials'] }];
    const seen = scriptedServer((method, path) => {
      if (path === '/applications/app1') return [200, APP];
      if (path === '/key-managers') return [200, { count: 1, list: [RESIDENT] }];
      if (method === 'GET' && path === '/applications/app1/oauth-keys') return [200, { count: list.length, list }];
      if (method === 'POST' && path === '/applications/app1/oauth-keys/km3/clean-up') {
        list = [];
        return [200, undefined];
      }
      return undefined;
    });
    page('production-keys');
    fireEvent.click(await screen.findByRole('button', { name: 'Remove keys' }));
    const dialog = await screen.findByRole('dialog', { name: 'Remove production keys' });
    expect(dialog.textContent).toContain('CK3');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Remove' }));
    expect(await screen.findByRole('form', { name: 'Generate production keys' })).toBeTruthy();
    expect(seen.filter((s) => s.method === 'POST').map((s) => s.path)).toEqual(['/applications/app1/oauth-keys/km3/clean-up']);
  });
});

describe('Subscriptions', () => {
  it('lists the subscriptions and unsubscribes after asking', async () => {
    let subs = [{ subscriptionId: 's1', applicationId: 'app1', apiId: 'api1', throttlingPolicy: 'Gold', status: 'UNBLOCKED', apiInfo: { name: 'PizzaShackAPI', version: '1.0.0' } }];
    const seen = scriptedServer((method, path) => {
      if (path === '/applications/app1') return [200, APP];
      if (method === 'GET' && path === '/subscriptions') return [200, { count: subs.length, list: subs, pagination: { total: subs.length } }];
      if (method === 'DELETE' && path === '/subscriptions/s1') {
        subs = [];
        return [200, undefined];
      }
      return undefined;
    });
    page('subscriptions');
    const table = await screen.findByRole('table', { name: 'Subscriptions' });
    expect(table.textContent).toContain('PizzaShackAPI 1.0.0');
    expect(table.textContent).toContain('Gold');
    fireEvent.click(within(table).getByRole('button', { name: 'Unsubscribe from PizzaShackAPI 1.0.0' }));
    const dialog = await screen.findByRole('dialog', { name: 'Unsubscribe' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Unsubscribe' }));
    expect(await screen.findByText('No subscriptions yet')).toBeTruthy();
    expect(seen.filter((s) => s.method === 'DELETE').map((s) => s.path)).toEqual(['/subscriptions/s1']);
    expect(seen.find((s) => s.path === '/subscriptions')?.query.get('applicationId')).toBe('app1');
  });

  it("changes a subscription's plan to another the API offers", async () => {
    const sub = { subscriptionId: 's1', applicationId: 'app1', apiId: 'api1', throttlingPolicy: 'Gold', status: 'UNBLOCKED', apiInfo: { name: 'PizzaShackAPI', version: '1.0.0' } };
    const seen = scriptedServer((method, path, body) => {
      if (path === '/applications/app1') return [200, APP];
      if (method === 'GET' && path === '/subscriptions') return [200, { count: 1, list: [sub], pagination: { total: 1 } }];
      if (method === 'GET' && path === '/apis/api1') return [200, { id: 'api1', name: 'PizzaShackAPI', tiers: [{ tierName: 'Gold' }, { tierName: 'Bronze' }] }];
      if (method === 'PUT' && path === '/subscriptions/s1') {
        Object.assign(sub, body);
        return [200, sub];
      }
      return undefined;
    });
    page('subscriptions');
    const table = await screen.findByRole('table', { name: 'Subscriptions' });
    fireEvent.click(within(table).getByRole('button', { name: 'Change plan of PizzaShackAPI 1.0.0' }));
    const dialog = await screen.findByRole('dialog', { name: 'Change business plan' });
    const select = within(dialog).getByRole('textbox', { name: 'New business plan' });
    await vi.waitFor(() => expect(select).toHaveProperty('disabled', false));
    fireEvent.click(select);
    fireEvent.click(await screen.findByRole('option', { name: 'Bronze', hidden: true }));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Change plan' }));
    await vi.waitFor(() => expect(within(table).getAllByRole('row')[1]?.textContent).toContain('Bronze'));
    expect(seen.find((s) => s.method === 'PUT')?.body).toEqual({ applicationId: 'app1', apiId: 'api1', throttlingPolicy: 'Bronze' });
  });
});
