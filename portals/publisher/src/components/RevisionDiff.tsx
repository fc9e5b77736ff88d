import { Card, Code, Group, Select, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { ErrorNotice, LoadingState, unwrap } from '@apim/shared';
import { usePublisher } from '../client';
import type { Revision } from '../queries';

/** Fields that differ between any two reads without the API having changed. */
const VOLATILE = new Set([
  'id',
  'createdTime',
  'lastUpdatedTime',
  'lastUpdatedTimestamp',
  'isRevision',
  'revisionId',
  'revisionedApiId',
  'lifeCycleStatus',
  'hasThumbnail',
  'workflowStatus',
]);

export interface Change {
  /** Where, as `operations › GET /menu › scopes`. */
  path: string;
  before?: unknown;
  after?: unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Operations keyed by `VERB target`, so a change to one reads as that operation's, not as a shifted list. */
function keyed(key: string, v: Json): Json {
  if (key === 'operations' && Array.isArray(v)) {
    return Object.fromEntries(v.map((o, i) => {
      const op = o as { verb?: string; target?: string };
      return [op.verb && op.target ? `${op.verb} ${op.target}` : String(i), o];
    }));
  }
  return v;
}

function leaves(v: Json, path: string[], out: Map<string, Json>) {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) {
      if (path.length === 0 && VOLATILE.has(k)) continue;
      leaves(path.length === 0 ? keyed(k, x) : x, [...path, k], out);
    }
    return;
  }
  out.set(path.join(' › '), v);
}

/** Equal, or absent on one side and empty or off on the other (a field saved at its default changes nothing). */
function same(a: Json | undefined, b: Json | undefined): boolean {
  const empty = (v: Json | undefined) =>
    v === undefined || v === null || v === false || v === '' || (typeof v === 'object' && Object.keys(v).length === 0);
  return JSON.stringify(a) === JSON.stringify(b) || (empty(a) && empty(b));
}

/** What changed from `a` to `b` (two reads of an API), leaf by leaf; lists compare whole. */
export function diffApis(a: unknown, b: unknown): Change[] {
  const before = new Map<string, Json>();
  const after = new Map<string, Json>();
  leaves(a as Json, [], before);
  leaves(b as Json, [], after);
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  return paths
    .filter((p) => !same(before.get(p), after.get(p)))
    .map((path) => ({ path, before: before.get(path), after: after.get(path) }));
}

function Shown({ v }: { v: unknown }) {
  if (v === undefined) return <Text size="sm" c="dimmed">—</Text>;
  // Wrapped, never scrolled: a scrolling cell would need its own keyboard access.
  return <Code style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }}>{JSON.stringify(v)}</Code>;
}

const CURRENT = 'current';

/**
 * "Compare": two revisions, or a revision and the API as it is now, field by field: what deploying the newer
 * one changes on the gateways. Each side is read as WSO2 serves a revision (`GET /apis/{revisionId}`).
 */
export function RevisionDiff({ apiId, revisions }: { apiId: string; revisions: Revision[] }) {
  const api = usePublisher();
  const options = [{ value: CURRENT, label: 'The API now (not a revision)' }, ...revisions.map((r) => ({ value: r.id ?? '', label: r.displayName ?? r.id ?? '' }))];
  const [from, setFrom] = useState<string | null>(revisions.at(-1)?.id ?? null);
  const [to, setTo] = useState<string | null>(CURRENT);
  const read = (id: string | null) => ({
    queryKey: ['api', apiId, 'as', id],
    enabled: id !== null,
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}', { params: { path: { apiId: id === CURRENT ? apiId : (id ?? '') } } })),
  });
  const a = useQuery(read(from));
  const b = useQuery(read(to));
  const changes = a.data && b.data ? diffApis(a.data, b.data) : undefined;
  return (
    <Card withBorder>
      <Stack>
        <Title order={3}>Compare</Title>
        <Group grow align="flex-end" wrap="wrap">
          <Select label="From" data={options} value={from} onChange={setFrom} allowDeselect={false} />
          <Select label="To" data={options} value={to} onChange={setTo} allowDeselect={false} />
        </Group>
        {(a.isLoading || b.isLoading) && <LoadingState label="Reading both sides" />}
        {a.isError && <ErrorNotice error={a.error} title="Cannot read the first side" />}
        {b.isError && <ErrorNotice error={b.error} title="Cannot read the second side" />}
        {changes &&
          (changes.length === 0 ? (
            <Text size="sm" role="status">
              No difference.
            </Text>
          ) : (
            <Table aria-label="Differences" verticalSpacing="xs" layout="fixed">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Field</Table.Th>
                  <Table.Th>From</Table.Th>
                  <Table.Th>To</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {changes.map((c) => (
                  <Table.Tr key={c.path}>
                    <Table.Td>
                      <Text size="sm" ff="monospace">
                        {c.path}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <Shown v={c.before} />
                    </Table.Td>
                    <Table.Td>
                      <Shown v={c.after} />
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          ))}
      </Stack>
    </Card>
  );
}
