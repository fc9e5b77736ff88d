import { Button, Group, Select, Stack, Textarea, TextInput } from '@mantine/core';
import { useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router';
import { ErrorNotice, type DevportalComponents } from '@apim/shared';
import { useApplicationPlans } from '../queries';

type Plan = DevportalComponents['schemas']['ThrottlingPolicy'];

export interface ApplicationFields {
  name: string;
  throttlingPolicy: string;
  description: string;
}

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

/**
 * An application's name, rate-limiting plan and description, for creating one or editing it. The input stays
 * as typed when the server refuses it (`error`), so the user corrects rather than retypes.
 */
export function ApplicationForm({
  label,
  initial,
  submitLabel,
  cancelTo,
  pending,
  error,
  errorTitle,
  onSubmit,
  children,
}: {
  label: string;
  initial?: ApplicationFields;
  submitLabel: string;
  cancelTo: string;
  pending: boolean;
  error: unknown;
  errorTitle: string;
  onSubmit: (fields: ApplicationFields) => void;
  children?: ReactNode;
}) {
  const plans = useApplicationPlans();
  const [name, setName] = useState(initial?.name ?? '');
  const [plan, setPlan] = useState<string | null>(initial?.throttlingPolicy ?? null);
  const [description, setDescription] = useState(initial?.description ?? '');
  const choices = plans.data?.list ?? [];
  const chosen = plan ?? defaultPlan(choices);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim() && chosen) onSubmit({ name: name.trim(), throttlingPolicy: chosen, description: description.trim() });
  };
  return (
    <form onSubmit={submit} aria-label={label}>
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
        <Textarea label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} autosize minRows={2} maxLength={512} />
        {error != null && <ErrorNotice error={error} title={errorTitle} />}
        {children}
        <Group>
          <Button type="submit" loading={pending} disabled={!name.trim() || !chosen}>
            {submitLabel}
          </Button>
          <Button variant="default" component={Link} to={cancelTo}>
            Cancel
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
