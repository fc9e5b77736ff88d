import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API, renderApiPage, scriptedServer } from '../testing';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

type Doc = Record<string, unknown> & { documentId: string; name: string };

function docServer(initial: Doc[], contents: Record<string, string> = {}) {
  let docs = initial;
  let n = 0;
  const seen = scriptedServer((method, path, body) => {
    if (method === 'GET' && path === '/apis/api1') return [200, API, { ETag: '"e1"' }];
    if (method === 'GET' && path === '/apis/api1/documents') return [200, { count: docs.length, list: docs }];
    if (method === 'POST' && path === '/apis/api1/documents') {
      const b = body as Doc;
      if (docs.some((d) => d.name === b.name)) return [409, { code: 409, message: 'Conflict', description: `API api1 already has a document named ${b.name}` }];
      const { inlineContent, ...meta } = b;
      const d = { ...meta, documentId: `d${++n}` };
      if (typeof inlineContent === 'string') contents[d.documentId] = inlineContent;
      docs = [...docs, d];
      return [201, d];
    }
    const m = /^\/apis\/api1\/documents\/([^/]+)(\/content)?$/.exec(path);
    if (m?.[1]) {
      const id = m[1];
      if (m[2] && method === 'GET') return contents[id] === undefined ? undefined : [200, contents[id]];
      if (m[2] && method === 'POST') return [200, docs.find((d) => d.documentId === id)];
      if (method === 'GET') return [200, docs.find((d) => d.documentId === id)];
      if (method === 'PUT') {
        const { inlineContent, ...meta } = body as Doc;
        if (typeof inlineContent === 'string') contents[id] = inlineContent;
        docs = docs.map((d) => (d.documentId === id ? { ...meta, documentId: id } : d));
        return [200, { ...meta, documentId: id }];
      }
      if (method === 'DELETE') {
        docs = docs.filter((d) => d.documentId !== id);
        return [200, undefined];
      }
    }
    return undefined;
  });
  return seen;
}

describe('Documents', () => {
  it("adds an inline document with its visibility; a refused name shows the server's message and keeps the input", async () => {
    const seen = docServer([{ documentId: 'd0', name: 'Guide', type: 'HOWTO', sourceType: 'INLINE', visibility: 'API_LEVEL' }]);
    renderApiPage('documents');
    expect((await screen.findByRole('table', { name: 'Documents' })).textContent).toContain('Guide');
    fireEvent.click(screen.getByRole('button', { name: 'Add document' }));
    const form = await screen.findByRole('form', { name: 'Add document' });
    fireEvent.change(within(form).getByLabelText(/^Name/), { target: { value: 'Guide' } });
    fireEvent.change(within(form).getByLabelText(/^Summary/), { target: { value: 'How to order' } });
    fireEvent.change(within(form).getByLabelText(/^Content/), { target: { value: 'Call GET /menu first.' } });
    const visibility = within(form).getByRole('textbox', { name: /^Visibility/ });
    fireEvent.click(visibility);
    fireEvent.click(await screen.findByRole('option', { name: 'Signed-in users only', hidden: true }));
    fireEvent.click(within(form).getByRole('button', { name: 'Add document' }));
    expect((await within(form).findByRole('alert')).textContent).toContain('already has a document named Guide');
    expect(within(form).getByLabelText(/^Content/)).toHaveProperty('value', 'Call GET /menu first.');

    fireEvent.change(within(form).getByLabelText(/^Name/), { target: { value: 'Ordering' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add document' }));
    const table = await screen.findByRole('table', { name: 'Documents' }, { timeout: 3000 });
    await vi.waitFor(() => expect(table.textContent).toContain('Ordering'));
    expect(table.textContent).toContain('Signed-in users only');
    expect(seen.filter((s) => s.method === 'POST').pop()?.body).toEqual({
      name: 'Ordering',
      type: 'HOWTO',
      summary: 'How to order',
      sourceType: 'INLINE',
      visibility: 'PRIVATE',
      inlineContent: 'Call GET /menu first.',
    });
  });

  it('adds a URL document and a file document (uploaded as its content)', async () => {
    const seen = docServer([]);
    renderApiPage('documents');
    expect(await screen.findByText('No documents yet')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Add document' }));
    let form = await screen.findByRole('form', { name: 'Add document' });
    fireEvent.change(within(form).getByLabelText(/^Name/), { target: { value: 'Forum' } });
    fireEvent.click(within(form).getByText('URL'));
    fireEvent.change(within(form).getByRole('textbox', { name: /^URL/ }), { target: { value: 'https://forum.example.com' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add document' }));
    const table = await screen.findByRole('table', { name: 'Documents' });
    expect(within(table).getByRole('link', { name: 'URL' }).getAttribute('href')).toBe('https://forum.example.com');
    expect(seen.find((s) => s.method === 'POST')?.body).toMatchObject({ sourceType: 'URL', sourceUrl: 'https://forum.example.com' });

    fireEvent.click(screen.getByRole('button', { name: 'Add document' }));
    form = await screen.findByRole('form', { name: 'Add document' });
    fireEvent.change(within(form).getByLabelText(/^Name/), { target: { value: 'Terms' } });
    fireEvent.click(within(form).getByText('File'));
    expect(within(form).getByRole('button', { name: 'Add document' })).toHaveProperty('disabled', true);
    const input = form.querySelector('input[type=file]') as HTMLInputElement;
    fireEvent.change(input, { target: { files: [new File(['%PDF-1.4'], 'terms.pdf', { type: 'application/pdf' })] } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add document' }));
    await vi.waitFor(() => expect(seen.some((s) => s.path === '/apis/api1/documents/d2/content')).toBe(true));
    expect(seen.find((s) => s.path === '/apis/api1/documents/d2/content')?.body).toEqual({ file: 'file:terms.pdf' });
  });

  it("edits a markdown document's text, and deletes a document after asking", async () => {
    const seen = docServer(
      [{ documentId: 'd7', name: 'Readme', type: 'OTHER', otherTypeName: 'Readme', sourceType: 'MARKDOWN', visibility: 'API_LEVEL' }],
      { d7: '# Old' },
    );
    renderApiPage('documents');
    const table = await screen.findByRole('table', { name: 'Documents' });
    fireEvent.click(within(table).getByRole('button', { name: 'Edit Readme' }));
    const form = await screen.findByRole('form', { name: 'Edit document' });
    const content = within(form).getByLabelText(/^Content \(Markdown\)/);
    expect(content).toHaveProperty('value', '# Old');
    fireEvent.change(content, { target: { value: '# New' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await screen.findByRole('table', { name: 'Documents' });
    expect(seen.find((s) => s.method === 'PUT')?.body).toEqual({
      name: 'Readme',
      type: 'OTHER',
      otherTypeName: 'Readme',
      sourceType: 'MARKDOWN',
      visibility: 'API_LEVEL',
      inlineContent: '# New',
    });

    fireEvent.click(screen.getByRole('button', { name: 'Delete Readme' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete document' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('No documents yet')).toBeTruthy();
    expect(seen.filter((s) => s.method === 'DELETE').map((s) => s.path)).toEqual(['/apis/api1/documents/d7']);
  });
});
