import { Anchor, Button, Group, Select, Stack, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { ErrorNotice, unwrap, type DevportalComponents } from '@apim/shared';
import { useDevportal } from '../client';
import { keys, useApplicationPlans } from '../queries';

type Plan = DevportalComponents['schemas']['ThrottlingPolicy'];

/** "20 requests per 1 min" (a plan's quota as the DevPortal's policy list answers it). */
export function planSummary(p: Plan): string {
  if (p.name === 'Unlimited' || p.requestCount <= 0) return 'Unlimited requests';
  const what = p.quotaPolicyType === 'BANDWIDTHVOLUME' ? `${p.requestCount} ${p.dataUnit ?? 'KB'}` : `${p.requestCount} requests`;
  return `${what} per ${p.unitTime} ${p.timeUnit ?? ''}`.trim();
}

/** The plan a new application gets unless the user picks another: WSO2's default, else the first. */
export function defaultPlan(plans: Plan[]): string | null {
  return (plans.find((p) => p.name === 'Unlimited') ?? plans[0])?.name ?? null;
}

/** `/applications/create`: name, rate-limiting plan and description of a new application. */
export function CreateApplicationPage() {
  const api = useDevportal();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const plans = useApplicationPlans();
  const [name, setName] = useState('');
  const [plan, setPlan] = useState<string | null>(null);
  const [description, setDescription] = useState('');
  const choices = plans.data?.list ?? [];
  const chosen = plan ?? defaultPlan(choices);
  const create = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications', {
          body: { name: name.trim(), throttlingPolicy: chosen ?? '', description: description.trim(), tokenType: 'JWT' } as DevportalComponents['schemas']['Application'],
        }),
      ),
    onSuccess: (app) => {
      void queries.invalidateQueries({ queryKey: keys.applications() });
      // A 202 (an approval workflow) has no application yet: back to the list, where it appears once approved.
      navigate('applicationId' in app ? `/applications/${app.applicationId}/production-keys` : '/applications');
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim() && chosen) create.mutate();
  };
  return (
    <Stack maw={640}>
      <Anchor component={Link} to="/applications" size="sm">
        ← Applications
      </Anchor>
      <Title order={2}>Create application</Title>
      <form onSubmit={submit} aria-label="Create application">
        <Stack>
          <TextInput label="Application name" value={name} onChange={(e) => setName(e.currentTarget.value)} required maxLength={100} />
          <Select
            label="Rate-limiting plan"
            description="How many requests the application may make, over all the APIs it subscribes to"
            data={choices.map((p) => ({ value: p.name, label: `${p.name} — ${planSummary(p)}` }))}
            value={chosen}
            onChange={setPlan}
            allowDeselect={false}
            disabled={plans.isPending}
            required
          />
          {plans.isError && <ErrorNotice error={plans.error} title="Cannot list the rate-limiting plans" />}
          <Textarea label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} autosize minRows={2} />
          {create.isError && <ErrorNotice error={create.error} title="The application was not created" />}
          <Text size="sm" c="dimmed">
            Keys come next: the application gets them on its page.
          </Text>
          <Group>
            <Button type="submit" loading={create.isPending} disabled={!name.trim() || !chosen}>
              Create
            </Button>
            <Button variant="default" component={Link} to="/applications">
              Cancel
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
