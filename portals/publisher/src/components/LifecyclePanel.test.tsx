import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Route, Routes } from 'react-router';
import { ApiPage } from '../pages/ApiPage';
import { API, renderApiPage, renderSignedIn, scriptedServer } from '../testing';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('Lifecycle', () => {
  it("shows the state, its requirements, WSO2's checklist and history, and changes state with the checklist sent", async () => {
    let status = 'CREATED';
    const history = [{ previousState: '', postState: 'Created', user: 'admin', updatedTime: '2026-12-05T10:00:00Z' }];
    const seen = scriptedServer((method, path, _body, query) => {
      if (method === 'GET' && path === '/apis/api1') return [200, { ...API, lifeCycleStatus: status }, { ETag: '"e1"' }];
      if (method === 'GET' && path === '/apis/api1/deployments') return [200, { count: 0, list: [] }];
      if (method === 'GET' && path === '/apis/api1/lifecycle-state')
        return status === 'CREATED'
          ? [
              200,
              {
                state: 'Created',
                checkItems: [
                  { name: 'Deprecate old versions after publishing the API', value: false, requiredStates: [] },
                  { name: 'Requires re-subscription when publishing the API', value: false, requiredStates: [] },
                ],
                availableTransitions: [
                  { event: 'Publish', targetState: 'Published' },
                  { event: 'Deploy as a Prototype', targetState: 'Prototyped' },
                ],
              },
            ]
          : [200, { state: 'Published', checkItems: [], availableTransitions: [{ event: 'Block', targetState: 'Blocked' }] }];
      if (method === 'GET' && path === '/apis/api1/lifecycle-history') return [200, { count: history.length, list: history }];
      if (method === 'POST' && path === '/apis/change-lifecycle') {
        if (query.get('action') === 'Deploy as a Prototype')
          return [412, { code: 412, message: 'Precondition Failed', description: 'deploy a revision to at least one gateway environment before publishing' }];
        status = 'PUBLISHED';
        history.push({ previousState: 'Created', postState: 'Published', user: 'admin', updatedTime: '2026-12-05T11:00:00Z' });
        return [200, { lifecycleState: { state: 'Published' } }];
      }
      return undefined;
    });
    renderApiPage('lifecycle');
    expect(await screen.findByLabelText('Current state')).toHaveProperty('textContent', 'Created');
    const requirements = await screen.findByRole('list', { name: 'Requirements' });
    await vi.waitFor(() => expect(requirements.textContent).toContain('Deployed to a gateway environment — not yet'));
    expect(requirements.textContent).toContain('Production endpoint given — done');
    expect(within(requirements).getByRole('link', { name: 'Deployed to a gateway environment' }).getAttribute('href')).toBe('/apis/api1/deployments');
    expect(screen.getByRole('table', { name: 'Lifecycle history' }).textContent).toContain('Created');

    fireEvent.click(screen.getByRole('button', { name: 'Deploy as a Prototype' }));
    expect((await screen.findByRole('alert')).textContent).toContain('deploy a revision to at least one gateway environment');

    fireEvent.click(within(screen.getByRole('group', { name: 'Checklist' })).getByLabelText('Requires re-subscription when publishing the API'));
    fireEvent.click(screen.getByRole('button', { name: 'Publish' }));
    await vi.waitFor(() => expect(screen.getByLabelText('Current state').textContent).toBe('Published'));
    expect(screen.getByLabelText('Lifecycle state').textContent).toBe('PUBLISHED');
    expect(screen.getByRole('button', { name: 'Block' })).toBeTruthy();
    expect(screen.queryByRole('list', { name: 'Requirements' })).toBeNull();
    await vi.waitFor(() => expect(screen.getByRole('table', { name: 'Lifecycle history' }).textContent).toContain('Published'));
    const publish = seen.filter((s) => s.path === '/apis/change-lifecycle').pop();
    expect(publish?.query.get('action')).toBe('Publish');
    expect(publish?.query.get('apiId')).toBe('api1');
    expect(publish?.query.get('lifecycleChecklist')).toBe(
      'Deprecate old versions after publishing the API:false,Requires re-subscription when publishing the API:true',
    );
  });

  it('shows no transition buttons to a user without apim:api_publish', async () => {
    scriptedServer((method, path) => {
      if (path === '/apis/api1') return [200, { ...API, lifeCycleStatus: 'PUBLISHED' }];
      if (path === '/apis/api1/lifecycle-state') return [200, { state: 'Published', checkItems: [], availableTransitions: [{ event: 'Block', targetState: 'Blocked' }] }];
      if (path === '/apis/api1/lifecycle-history') return [200, { count: 0, list: [] }];
      return method === 'GET' ? [200, { list: [] }] : undefined;
    });
    renderSignedIn(
      <Routes>
        <Route path="/apis/:apiId/:tab?" element={<ApiPage />} />
      </Routes>,
      '/apis/api1/lifecycle',
      ['apim:api_view'],
    );
    expect(await screen.findByText(/needs the apim:api_publish scope/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Block' })).toBeNull();
    expect(screen.getByText('No state changes yet')).toBeTruthy();
  });
});
