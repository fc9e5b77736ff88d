// Traffic over a period, as the three portals show it: totals, latency split into the whole and the backend's
// share, requests over time, and what the traffic came from. One component for the Publisher's API tab, the
// DevPortal's application tab and the Admin's platform page; each passes the summary's path.

import { Alert, Group, Paper, SegmentedControl, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import type { components } from '../../generated/analytics';
import { analyticsClient } from '../api/clients';
import { unwrap } from '../api/error';
import { useSession } from '../auth/context';
import { ErrorNotice, LoadingState } from '../components/states';

export type AnalyticsSummary = components['schemas']['Summary'];
export type AnalyticsPeriod = AnalyticsSummary['period'];
type Latency = components['schemas']['Latency'];

/** Whose traffic: one API (Publisher), one application (DevPortal), or the platform (Admin). */
export type AnalyticsScope = { api: string } | { application: string } | 'platform';

const PERIODS: { value: AnalyticsPeriod; label: string }[] = [
  { value: '15m', label: '15 min' },
  { value: '1h', label: '1 hour' },
  { value: '6h', label: '6 hours' },
  { value: '24h', label: '24 hours' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
];

function useSummary(scope: AnalyticsScope, period: AnalyticsPeriod) {
  const session = useSession();
  const client = useMemo(() => analyticsClient(session), [session]);
  return useQuery({
    queryKey: ['analytics', scope, period],
    // Gateways send every few seconds: a page left open follows the traffic.
    refetchInterval: 10_000,
    queryFn: async (): Promise<AnalyticsSummary> => {
      const query = { period };
      if (scope === 'platform') return unwrap(await client.GET('/admin/v4/analytics', { params: { query } }));
      if ('api' in scope)
        return unwrap(await client.GET('/publisher/v4/apis/{apiId}/analytics', { params: { path: { apiId: scope.api }, query } }));
      return unwrap(
        await client.GET('/devportal/v3/applications/{applicationId}/analytics', {
          params: { path: { applicationId: scope.application }, query },
        }),
      );
    },
  });
}

const ms = (v: number | null | undefined) => (v == null ? '–' : `${v.toFixed(v < 10 ? 2 : 0)} ms`);
const count = (n: number) => n.toLocaleString('en');

function Figure({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <Paper withBorder p="sm" radius="md">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} aria-label={label}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  );
}

function LatencyRow({ name, l }: { name: string; l: Latency }) {
  return (
    <Table.Tr>
      <Table.Td>{name}</Table.Td>
      <Table.Td>{ms(l.p50)}</Table.Td>
      <Table.Td>{ms(l.p95)}</Table.Td>
      <Table.Td>{ms(l.p99)}</Table.Td>
    </Table.Tr>
  );
}

/** Requests per point as bars, errors stacked in red: read at a glance, no charting library to load. */
function RequestsChart({ summary }: { summary: AnalyticsSummary }) {
  const points = summary.series;
  const top = Math.max(1, ...points.map((p) => p.requests));
  const w = 600;
  const h = 120;
  const bar = w / Math.max(1, points.length);
  return (
    <svg viewBox={`0 0 ${w} ${h + 16}`} width="100%" role="img" aria-label={`Requests over the last ${summary.period}`}>
      {points.map((p, i) => {
        const total = (p.requests / top) * h;
        const errors = (p.errors / top) * h;
        return (
          <g key={p.time}>
            <title>{`${new Date(p.time).toLocaleString()}: ${p.requests} requests, ${p.errors} errors`}</title>
            <rect x={i * bar + 1} y={h - total} width={Math.max(1, bar - 2)} height={total} fill="var(--mantine-color-blue-5)" />
            <rect x={i * bar + 1} y={h - errors} width={Math.max(1, bar - 2)} height={errors} fill="var(--mantine-color-red-6)" />
          </g>
        );
      })}
      <line x1={0} y1={h} x2={w} y2={h} stroke="var(--mantine-color-gray-5)" />
      <text x={0} y={h + 13} fontSize={11} fill="currentColor">
        {new Date(summary.from).toLocaleString()}
      </text>
      <text x={w} y={h + 13} fontSize={11} textAnchor="end" fill="currentColor">
        now
      </text>
    </svg>
  );
}

function Breakdown({ title, rows }: { title: string; rows: { key: string; name: string; requests: number; errors: number }[] }) {
  if (rows.length === 0) return null;
  return (
    <Stack gap={4}>
      <Title order={4}>{title}</Title>
      <Table aria-label={title} striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Requests</Table.Th>
            <Table.Th>Errors</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((r) => (
            <Table.Tr key={r.key}>
              <Table.Td>{r.name}</Table.Td>
              <Table.Td>{count(r.requests)}</Table.Td>
              <Table.Td>{count(r.errors)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}

/** The summary of `scope` over a period the user picks (default the last hour). */
export function AnalyticsPanel({ scope }: { scope: AnalyticsScope }) {
  const [period, setPeriod] = useState<AnalyticsPeriod>('1h');
  const summary = useSummary(scope, period);
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={3}>Traffic</Title>
        <SegmentedControl
          aria-label="Period"
          value={period}
          onChange={(v) => setPeriod(v as AnalyticsPeriod)}
          data={PERIODS}
        />
      </Group>
      {summary.isPending && <LoadingState label="Loading the traffic" />}
      {summary.isError && <ErrorNotice error={summary.error} title="Cannot load the traffic" />}
      {summary.data && <SummaryView s={summary.data} scope={scope} />}
    </Stack>
  );
}

function SummaryView({ s, scope }: { s: AnalyticsSummary; scope: AnalyticsScope }) {
  if (s.requests === 0) {
    return <Alert title="No traffic yet">No request reached the gateways in the last {s.period}. Calls made through the gateways show here within seconds.</Alert>;
  }
  const errorRate = s.requests > 0 ? (100 * s.errors) / s.requests : 0;
  const classes = Object.entries(s.byStatusClass).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Stack>
      <SimpleGrid cols={{ base: 2, sm: 4 }}>
        <Figure label="Requests" value={count(s.requests)} />
        <Figure label="Errors" value={count(s.errors)} hint={`${errorRate.toFixed(1)} % · ${count(s.gatewayErrors)} by the gateway`} />
        <Figure label="Throttled" value={count(s.throttled)} hint={`${count(s.blocked)} blocked by a deny policy`} />
        <Figure label="Latency p95" value={ms(s.latency.p95)} hint={`backend ${ms(s.backendLatency.p95)}`} />
      </SimpleGrid>
      <RequestsChart summary={s} />
      <Group gap="lg" aria-label="Requests by status class">
        {classes.map(([c, n]) => (
          <Text key={c} size="sm">
            <Text span fw={600}>
              {c}
            </Text>{' '}
            {count(n)}
          </Text>
        ))}
      </Group>
      <Table aria-label="Latency" maw={520}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th />
            <Table.Th>p50</Table.Th>
            <Table.Th>p95</Table.Th>
            <Table.Th>p99</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          <LatencyRow name="Whole request" l={s.latency} />
          <LatencyRow name="Backend" l={s.backendLatency} />
        </Table.Tbody>
      </Table>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        {!(typeof scope === 'object' && 'api' in scope) && (
          <Breakdown title="Top APIs" rows={s.byApi.map((a) => ({ ...a, key: a.apiId, name: `${a.name} ${a.version}` }))} />
        )}
        {!(typeof scope === 'object' && 'application' in scope) && (
          <Breakdown title="Top applications" rows={s.byApplication.map((a) => ({ ...a, key: a.applicationId, name: `${a.name} (${a.owner})` }))} />
        )}
        <Breakdown title="Resources" rows={s.byResource.map((r) => ({ ...r, key: `${r.method} ${r.resource}`, name: `${r.method} ${r.resource}` }))} />
        <Breakdown title="Key types" rows={s.byKeyType.map((k) => ({ key: k.name, ...k }))} />
        {scope === 'platform' && <Breakdown title="Gateway nodes" rows={s.byGateway.map((g) => ({ key: g.name, ...g }))} />}
      </SimpleGrid>
    </Stack>
  );
}
