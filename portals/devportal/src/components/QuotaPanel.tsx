// "Quota used": how much of each limit the application has used in the current window — its own plan across
// every API, and each subscription's plan on its API — so a developer sees a 429 coming before it comes.

import { Paper, Progress, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { analyticsClient, ErrorNotice, LoadingState, unwrap, useSession, type AnalyticsComponents } from '@apim/shared';

type QuotaReport = AnalyticsComponents['schemas']['QuotaReport'];
type QuotaUsage = AnalyticsComponents['schemas']['QuotaUsage'];

const UNITS: [number, string][] = [
  [365 * 86_400, 'year'],
  [30 * 86_400, 'month'],
  [7 * 86_400, 'week'],
  [86_400, 'day'],
  [3_600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];

/** "per minute", "per 10 minutes", "per day". */
export function perWindow(seconds: number): string {
  const [unit, name] = UNITS.find(([u]) => seconds % u === 0 && seconds >= u) ?? [1, 'second'];
  const n = seconds / unit;
  return n === 1 ? `per ${name}` : `per ${n} ${name}s`;
}

function bytes(n: number): string {
  if (n % (1 << 30) === 0) return `${n / (1 << 30)} GB`;
  if (n % (1 << 20) === 0) return `${n / (1 << 20)} MB`;
  return `${Math.round(n / 1024)} KB`;
}

/** What the limit allows, in words: "10 requests per minute", "No limit". */
export function limitText(u: QuotaUsage): string {
  const l = u.limit;
  if (!l) return 'No limit';
  const amount = l.requests != null ? `${l.requests.toLocaleString('en')} requests` : `${bytes(l.bytes ?? 0)}`;
  return `${amount} ${perWindow(l.windowSeconds)}`;
}

const time = (iso: string) => new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' }) + ' UTC';

/** The used share of a request limit as a bar, with "3 of 10" beside it; the count alone with no limit. */
function UsedCell({ u, label }: { u: QuotaUsage; label: string }) {
  if (u.used == null) return <Text size="sm">Not counted (a bandwidth limit)</Text>;
  const of = u.limit?.requests;
  if (of == null) return <Text size="sm">{`${u.used.toLocaleString('en')} this minute`}</Text>;
  const share = of === 0 ? 100 : Math.min(100, (u.used / of) * 100);
  return (
    <Stack gap={4}>
      <Text size="sm">{`${u.used.toLocaleString('en')} of ${of.toLocaleString('en')}`}</Text>
      <Progress value={share} color={share >= 100 ? 'red.9' : share >= 80 ? 'orange.9' : 'teal.9'} aria-label={`${label}: ${Math.round(share)}% used`} />
    </Stack>
  );
}

function QuotaRow({ name, u }: { name: string; u: QuotaUsage }) {
  return (
    <Table.Tr>
      <Table.Td>{name}</Table.Td>
      <Table.Td>
        <Text size="sm">{u.policy}</Text>
        <Text size="xs" c="dimmed">
          {limitText(u)}
        </Text>
      </Table.Td>
      <Table.Td miw={160}>
        <UsedCell u={u} label={name} />
      </Table.Td>
      <Table.Td>{u.refused.toLocaleString('en')}</Table.Td>
      <Table.Td>{time(u.windowEnd)}</Table.Td>
    </Table.Tr>
  );
}

export function QuotaPanel({ applicationId }: { applicationId: string }) {
  const session = useSession();
  const client = useMemo(() => analyticsClient(session), [session]);
  const report = useQuery({
    queryKey: ['quota', applicationId],
    // The gateways' counts arrive every few seconds.
    refetchInterval: 5_000,
    queryFn: async (): Promise<QuotaReport> =>
      unwrap(await client.GET('/devportal/v3/applications/{applicationId}/analytics/quota', { params: { path: { applicationId } } })),
  });
  if (report.isPending) return <LoadingState label="Loading the quota used" />;
  if (report.isError) return <ErrorNotice error={report.error} title="Cannot load the quota used" />;
  const r = report.data;
  return (
    <Paper withBorder p="md" radius="md">
      <Title order={3} size="h4">
        Quota used
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        In each limit's current window, counted from the gateways' reports (a few seconds behind).
      </Text>
      <Table.ScrollContainer minWidth={560}>
        <Table aria-label="Quota used">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Applies to</Table.Th>
              <Table.Th>Plan</Table.Th>
              <Table.Th>Used</Table.Th>
              <Table.Th>Refused</Table.Th>
              <Table.Th>Resets at</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            <QuotaRow name="This application, every API" u={r.application} />
            {r.subscriptions.map((s) => (
              <QuotaRow key={s.subscriptionId} name={`${s.apiName} ${s.apiVersion}`} u={s} />
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Paper>
  );
}
