import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API, SETTINGS, renderApiPage, scriptedServer } from '../testing';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const REV1 = {
  id: 'r1',
  displayName: 'Revision 1',
  description: 'first',
  createdTime: '2026-12-05T10:00:00Z',
  deploymentInfo: [{ revisionUuid: 'r1', name: 'Default', vhost: 'localhost', status: 'APPROVED', displayOnDevportal: true }],
};

/** A server keeping revisions and deployments as the control plane does. */
function revisionServer() {
  let revisions: (typeof REV1)[] = [structuredClone(REV1)];
  return scriptedServer((method, path, body, query) => {
    if (method === 'GET' && path === '/apis/api1') return [200, API, { ETag: '"e1"' }];
    if (method === 'GET' && path === '/settings') return [200, SETTINGS];
    if (method === 'GET' && path === '/apis/api1/revisions') return [200, { count: revisions.length, list: revisions }];
    if (method === 'GET' && path === '/apis/api1/deployments') {
      const list = revisions.flatMap((r) => r.deploymentInfo.map((d) => ({ ...d, gatewayDeployments: [{ gatewayId: 'gw-1', status: 'DEPLOYED' }] })));
      return [200, { count: list.length, list }];
    }
    if (method === 'POST' && path === '/apis/api1/revisions') {
      const r = { id: 'r2', displayName: 'Revision 2', description: (body as { description: string }).description, createdTime: '2026-12-05T11:00:00Z', deploymentInfo: [] };
      revisions = [...revisions, r];
      return [201, r];
    }
    if (method === 'POST' && path === '/apis/api1/deploy-revision') {
      const [d] = body as { name: string; vhost: string; displayOnDevportal: boolean }[];
      for (const r of revisions) r.deploymentInfo = r.deploymentInfo.filter((x) => x.name !== d?.name);
      const r = revisions.find((x) => x.id === query.get('revisionId'));
      r?.deploymentInfo.push({ revisionUuid: r.id, name: d?.name ?? '', vhost: d?.vhost ?? '', status: 'APPROVED', displayOnDevportal: d?.displayOnDevportal ?? true });
      return [201, []];
    }
    if (method === 'POST' && path === '/apis/api1/undeploy-revision') {
      const [d] = body as { name: string }[];
      for (const r of revisions) r.deploymentInfo = r.deploymentInfo.filter((x) => x.name !== d?.name);
      return [201, []];
    }
    if (method === 'POST' && path === '/apis/api1/restore-revision') return [201, API, { ETag: '"e2"' }];
    if (method === 'DELETE' && path.startsWith('/apis/api1/revisions/')) {
      const id = path.split('/').pop();
      if (revisions.find((r) => r.id === id)?.deploymentInfo.length)
        return [400, { code: 400, message: 'Bad Request', description: 'undeploy the revision before deleting it' }];
      revisions = revisions.filter((r) => r.id !== id);
      return [200, { count: revisions.length, list: revisions }];
    }
    return undefined;
  });
}

describe('Deployments', () => {
  it('lists revisions with where each runs, creates one and deploys it to a chosen environment and vhost', async () => {
    const seen = revisionServer();
    renderApiPage('deployments');
    const table = await screen.findByRole('table', { name: 'Revisions' });
    expect(table.textContent).toContain('Revision 1');
    expect(table.textContent).toContain('Default · localhost');
    expect(await within(table).findByLabelText('Gateway gw-1')).toHaveProperty('textContent', 'gw-1: running');

    const create = screen.getByRole('form', { name: 'Create revision' });
    fireEvent.change(within(create).getByLabelText(/Description/), { target: { value: 'new menu' } });
    fireEvent.click(within(create).getByRole('button', { name: 'Create revision' }));
    expect(await within(table).findByText('Revision 2')).toBeTruthy();
    expect(seen.find((s) => s.method === 'POST' && s.path === '/apis/api1/revisions')?.body).toEqual({ description: 'new menu' });

    fireEvent.click(within(table).getByRole('button', { name: 'Deploy Revision 2' }));
    const dialog = await screen.findByRole('dialog', { name: 'Deploy Revision 2' });
    const vhost = within(dialog).getByRole('textbox', { name: 'Virtual host' });
    await vi.waitFor(() => expect(vhost).toHaveProperty('value', 'localhost'));
    fireEvent.click(vhost);
    fireEvent.click(await screen.findByRole('option', { name: 'api.example.com', hidden: true }));
    fireEvent.click(within(dialog).getByLabelText('Show the gateway URL in the Developer Portal'));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Deploy' }));
    await vi.waitFor(() => expect(within(table).getAllByRole('row')[2]?.textContent).toContain('Default · api.example.com'));
    expect(within(table).getAllByRole('row')[1]?.textContent).toContain('Not deployed');
    const deploy = seen.find((s) => s.path === '/apis/api1/deploy-revision');
    expect(deploy?.query.get('revisionId')).toBe('r2');
    expect(deploy?.body).toEqual([{ name: 'Default', vhost: 'api.example.com', displayOnDevportal: false, status: 'CREATED' }]);
  });

  it("undeploys after asking, shows the server's refusal to delete a deployed revision, and restores one", async () => {
    const seen = revisionServer();
    renderApiPage('deployments');
    const table = await screen.findByRole('table', { name: 'Revisions' });

    fireEvent.click(within(table).getByRole('button', { name: 'Delete Revision 1' }));
    let dialog = await screen.findByRole('dialog', { name: 'Delete Revision 1' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    expect((await within(dialog).findByRole('alert')).textContent).toContain('undeploy the revision before deleting it');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));

    fireEvent.click(within(table).getByRole('button', { name: 'Undeploy Revision 1 from Default' }));
    dialog = await screen.findByRole('dialog', { name: 'Undeploy Revision 1' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Undeploy' }));
    expect(await within(table).findByText('Not deployed')).toBeTruthy();
    const undeploy = seen.find((s) => s.path === '/apis/api1/undeploy-revision');
    expect(undeploy?.query.get('revisionId')).toBe('r1');
    expect(undeploy?.body).toEqual([{ name: 'Default', vhost: 'localhost', displayOnDevportal: true, status: 'CREATED' }]);

    fireEvent.click(within(table).getByRole('button', { name: 'Restore Revision 1' }));
    dialog = await screen.findByRole('dialog', { name: 'Restore Revision 1' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));
    await vi.waitFor(() => expect(seen.some((s) => s.path === '/apis/api1/restore-revision' && s.query.get('revisionId') === 'r1')).toBe(true));

    fireEvent.click(within(table).getByRole('button', { name: 'Delete Revision 1' }));
    dialog = await screen.findByRole('dialog', { name: 'Delete Revision 1' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('No revisions yet')).toBeTruthy();
  });
});
