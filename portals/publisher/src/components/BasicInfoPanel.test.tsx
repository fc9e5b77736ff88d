import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API, renderApiPage, scriptedServer } from '../testing';
import { roleId } from './BasicInfoPanel';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const CATEGORIES = { count: 2, list: [{ id: 'c1', name: 'Food' }, { id: 'c2', name: 'Finance' }] };

describe('roleId', () => {
  it("is WSO2's Base64URL of the role name, without padding", () => {
    expect(roleId('Internal/subscriber')).toBe('SW50ZXJuYWwvc3Vic2NyaWJlcg');
    expect(roleId('ü?>')).toBe('w7w_Pg');
  });
});

describe('Basic info', () => {
  it('saves description, tags, categories and visibility with If-Match over the API as read; a 412 is shown in place and the input kept', async () => {
    let etag = '"e1"';
    const stored = { ...API };
    const seen = scriptedServer((method, path, body, _query, headers) => {
      if (method === 'GET' && path === '/apis/api1') return [200, stored, { ETag: etag }];
      if (method === 'GET' && path === '/api-categories') return [200, CATEGORIES];
      if (method === 'GET' && path === '/apis/api1/thumbnail') return undefined;
      if (method === 'HEAD' && path.startsWith('/roles/')) return path === `/roles/${roleId('partners')}` ? [200, undefined] : undefined;
      if (method === 'PUT' && path === '/apis/api1') {
        if (headers.get('If-Match') !== etag)
          return [412, { code: 412, message: 'Precondition Failed', description: 'API api1 changed since it was read (If-Match "e1", now "e2")' }];
        Object.assign(stored, body);
        etag = '"e3"';
        return [200, stored, { ETag: etag }];
      }
      return undefined;
    });
    renderApiPage('basic-info');
    const form = await screen.findByRole('form', { name: 'Basic info' });
    expect(within(form).getByLabelText('Description')).toHaveProperty('value', 'Pizzas');
    // Someone else saves the API meanwhile.
    etag = '"e2"';

    fireEvent.change(within(form).getByLabelText('Description'), { target: { value: 'Pizzas, delivered' } });
    const tags = within(form).getByRole('textbox', { name: /^Tags/ });
    fireEvent.change(tags, { target: { value: 'pizza' } });
    fireEvent.keyDown(tags, { key: 'Enter' });
    const categories = within(form).getByRole('textbox', { name: /^Categories/ });
    await vi.waitFor(() => expect(categories).toHaveProperty('disabled', false));
    fireEvent.click(categories);
    fireEvent.click(await screen.findByRole('option', { name: 'Food', hidden: true }));
    fireEvent.click(within(form).getByRole('textbox', { name: /^Developer Portal visibility/ }));
    fireEvent.click(await screen.findByRole('option', { name: 'Restricted by roles', hidden: true }));
    const roles = within(form).getByRole('textbox', { name: /^Roles/ });
    fireEvent.change(roles, { target: { value: 'partnrs' } });
    fireEvent.keyDown(roles, { key: 'Enter' });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect(await within(form).findByText('No such role: partnrs')).toBeTruthy();
    expect(seen.some((s) => s.method === 'PUT')).toBe(false);

    fireEvent.keyDown(roles, { key: 'Backspace' });
    fireEvent.change(roles, { target: { value: 'partners' } });
    fireEvent.keyDown(roles, { key: 'Enter' });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    const alert = await within(form).findByRole('alert');
    expect(alert.textContent).toContain('Precondition Failed');
    expect(alert.textContent).toContain('(code 412)');
    expect(within(form).getByLabelText('Description')).toHaveProperty('value', 'Pizzas, delivered');
    expect(seen.filter((s) => s.method === 'PUT')[0]?.headers.get('If-Match')).toBe('"e1"');

    // Read the API again: the input stays and goes on top of the current version.
    fireEvent.click(within(form).getByRole('button', { name: 'Read the API again (your input stays)' }));
    await vi.waitFor(() => expect(within(form).queryByRole('alert')).toBeNull());
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect(await within(form).findByText('Saved.')).toBeTruthy();
    const put = seen.filter((s) => s.method === 'PUT').pop();
    expect(put?.headers.get('If-Match')).toBe('"e2"');
    expect(put?.body).toEqual({
      ...API,
      description: 'Pizzas, delivered',
      tags: ['food', 'pizza'],
      categories: ['Food'],
      visibility: 'RESTRICTED',
      visibleRoles: ['partners'],
    });
  }, 20_000);

  it('uploads a thumbnail as the form field file and shows it', async () => {
    let image: string | undefined;
    const seen = scriptedServer((method, path, body) => {
      if (method === 'GET' && path === '/apis/api1') return [200, API, { ETag: '"e1"' }];
      if (method === 'GET' && path === '/api-categories') return [200, { count: 0, list: [] }];
      if (method === 'GET' && path === '/apis/api1/thumbnail') return image ? [200, image, { 'Content-Type': 'image/svg+xml' }] : undefined;
      if (method === 'PUT' && path === '/apis/api1/thumbnail') {
        image = '<svg xmlns="http://www.w3.org/2000/svg"/>';
        return [200, { relativePath: 'apis/api1/thumbnail', mediaType: 'image/svg+xml', body }];
      }
      return undefined;
    });
    renderApiPage('basic-info');
    expect(await screen.findByText('No thumbnail yet.')).toBeTruthy();
    expect(screen.getByText(/No categories yet/)).toBeTruthy();
    const form = screen.getByRole('form', { name: 'Upload thumbnail' });
    const input = form.querySelector('input[type=file]') as HTMLInputElement;
    fireEvent.change(input, { target: { files: [new File(['<svg xmlns="http://www.w3.org/2000/svg"/>'], 'logo.svg', { type: 'image/svg+xml' })] } });
    fireEvent.click(within(form).getByRole('button', { name: 'Upload thumbnail' }));
    const img = await screen.findByRole('img', { name: "The API's thumbnail" });
    expect(img.getAttribute('src')).toMatch(/^data:image\/svg\+xml/);
    expect(seen.find((s) => s.method === 'PUT')?.body).toEqual({ file: 'file:logo.svg' });
  });
});
