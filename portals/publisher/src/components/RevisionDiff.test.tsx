import { describe, expect, it } from 'vitest';
import { diffApis } from './RevisionDiff';

describe('diffApis', () => {
  it('names each changed leaf, operations by verb and target, and leaves out what every read changes', () => {
    const before = {
      id: 'rev1',
      isRevision: true,
      lastUpdatedTime: '1',
      description: 'Pizzas',
      endpointConfig: { production_endpoints: { url: 'http://a' } },
      operations: [
        { verb: 'GET', target: '/menu', scopes: [] },
        { verb: 'POST', target: '/order', scopes: [] },
      ],
      tags: ['food'],
    };
    const after = {
      id: 'api1',
      isRevision: false,
      lastUpdatedTime: '2',
      description: 'Pizzas',
      endpointConfig: { production_endpoints: { url: 'http://b' } },
      operations: [
        { verb: 'POST', target: '/order', scopes: ['order:write'] },
        { verb: 'DELETE', target: '/order/{id}', scopes: [] },
      ],
      tags: ['food', 'italian'],
    };
    expect(diffApis(before, after)).toEqual([
      { path: 'endpointConfig › production_endpoints › url', before: 'http://a', after: 'http://b' },
      { path: 'operations › DELETE /order/{id} › target', before: undefined, after: '/order/{id}' },
      { path: 'operations › DELETE /order/{id} › verb', before: undefined, after: 'DELETE' },
      { path: 'operations › GET /menu › target', before: '/menu', after: undefined },
      { path: 'operations › GET /menu › verb', before: 'GET', after: undefined },
      { path: 'operations › POST /order › scopes', before: [], after: ['order:write'] },
      { path: 'tags', before: ['food'], after: ['food', 'italian'] },
    ]);
    expect(diffApis(before, before)).toEqual([]);
    // A field saved at its default where it was absent is no change.
    expect(diffApis({ cors: {} }, { cors: { enabled: false, origins: [] }, validate: false })).toEqual([]);
  });
});
