import { Anchor, Button, Group, List, Select, Stack, Text } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ErrorNotice, LoadingState, unwrap } from '@apim/shared';
import { useDevportal } from '../client';
import { queryKeys, useApplications, type ApplicationInfo, type Subscription } from '../queries';

/** How many of the user's applications the form offers (WSO2's portal asks for as many). */
const APPS_LIMIT = 100;

/** The applications that may still subscribe: those not subscribed to the API already. */
export function unsubscribedApps(apps: ApplicationInfo[], subs: Subscription[]): ApplicationInfo[] {
  const taken = new Set(subs.map((s) => s.applicationId));
  return apps.filter((a) => a.applicationId && !taken.has(a.applicationId));
}

/** Subscribed applications, and an application and business plan to subscribe with. */
export function SubscribeForm({ apiId, plans }: { apiId: string; plans: string[] }) {
  const api = useDevportal();
  const queries = useQueryClient();
  const apps = useApplications(APPS_LIMIT, 0);
  const subs = useQuery({
    queryKey: queryKeys.subscriptionsOfApi(apiId),
    queryFn: async () => unwrap(await api.GET('/subscriptions', { params: { query: { apiId, limit: APPS_LIMIT } } })).list ?? [],
  });
  const [applicationId, setApplicationId] = useState<string | null>(null);
  const [plan, setPlan] = useState<string | null>(null);
  const subscribe = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/subscriptions', { body: { apiId, applicationId: applicationId ?? '', throttlingPolicy: plan ?? plans[0] ?? '' } })),
    onSuccess: () => {
      setApplicationId(null);
      void queries.invalidateQueries({ queryKey: ['subscriptions'] });
      void queries.invalidateQueries({ queryKey: queryKeys.applications() });
    },
  });
  if (apps.isPending || subs.isPending) return <LoadingState label="Loading your applications" />;
  if (apps.isError) return <ErrorNotice error={apps.error} title="Cannot list your applications" />;
  if (subs.isError) return <ErrorNotice error={subs.error} title="Cannot list your subscriptions" />;
  const all = apps.data.list ?? [];
  const names = new Map(all.map((a) => [a.applicationId, a.name]));
  const free = unsubscribedApps(all, subs.data);
  const chosenPlan = plan ?? plans[0] ?? null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (applicationId && chosenPlan) subscribe.mutate();
  };
  return (
    <Stack>
      {subs.data.length > 0 && (
        <div>
          <Text fw={500} id="subscribed-applications">
            Subscribed applications
          </Text>
          <List aria-labelledby="subscribed-applications">
            {subs.data.map((s) => (
              <List.Item key={s.subscriptionId}>
                <Anchor component={Link} to={`/applications/${s.applicationId}/subscriptions`}>
                  {names.get(s.applicationId) ?? s.applicationId}
                </Anchor>{' '}
                — {s.throttlingPolicy}
              </List.Item>
            ))}
          </List>
        </div>
      )}
      {all.length === 0 ? (
        <Text size="sm">
          You have no application yet: <Anchor component={Link} to="/applications/create" underline="always">create one</Anchor>, then subscribe it here.
        </Text>
      ) : free.length === 0 ? (
        <Text size="sm">Every one of your applications subscribes to this API.</Text>
      ) : (
        <form onSubmit={submit} aria-label="Subscribe">
          <Stack>
            <Group grow align="flex-start" wrap="wrap">
              <Select
                label="Application"
                placeholder="Choose an application"
                data={free.map((a) => ({ value: a.applicationId ?? '', label: a.name ?? '' }))}
                value={applicationId}
                onChange={(v) => {
                  subscribe.reset();
                  setApplicationId(v);
                }}
                required
                style={{ minWidth: 200 }}
              />
              <Select
                label="Business plan"
                data={plans}
                value={chosenPlan}
                onChange={setPlan}
                allowDeselect={false}
                required
                style={{ minWidth: 160 }}
              />
            </Group>
            {subscribe.isError && <ErrorNotice error={subscribe.error} title="Not subscribed" />}
            <Group>
              <Button type="submit" loading={subscribe.isPending} disabled={!applicationId || !chosenPlan}>
                Subscribe
              </Button>
            </Group>
          </Stack>
        </form>
      )}
      {subscribe.isSuccess && (
        <Text size="sm" role="status">
          Subscribed. Generate the application's keys on its page to call the API.
        </Text>
      )}
    </Stack>
  );
}
