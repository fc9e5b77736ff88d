import { Button, Card, Checkbox, Group, Select, Stack, TextInput, Title } from '@mantine/core';
import type { AdminComponents } from '@apim/shared';
import { DEFAULT_LIMIT, LimitFields, toThrottleLimit, type LimitInput } from './LimitFields';

type ThrottleCondition = AdminComponents['schemas']['ThrottleCondition'];
export type ConditionalGroup = AdminComponents['schemas']['ConditionalGroup'];

/** One condition group as the form edits it: one condition (a header, query parameter, IP or JWT claim) and its quota. */
export interface GroupInput {
  kind: 'HEADERCONDITION' | 'QUERYPARAMETERCONDITION' | 'IPCONDITION' | 'JWTCLAIMSCONDITION';
  name: string;
  value: string;
  invert: boolean;
  limit: LimitInput;
}

export const NEW_GROUP: GroupInput = { kind: 'HEADERCONDITION', name: '', value: '', invert: false, limit: DEFAULT_LIMIT };

const KINDS = [
  { value: 'HEADERCONDITION', label: 'Header' },
  { value: 'QUERYPARAMETERCONDITION', label: 'Query parameter' },
  { value: 'IPCONDITION', label: 'Client IP' },
  { value: 'JWTCLAIMSCONDITION', label: 'JWT claim' },
];

/** WSO2's `ConditionalGroup` for the input. */
export function toConditionalGroup(g: GroupInput): ConditionalGroup {
  const base = { invertCondition: g.invert };
  let condition: ThrottleCondition;
  switch (g.kind) {
    case 'HEADERCONDITION':
      condition = { ...base, type: g.kind, headerCondition: { headerName: g.name.trim(), headerValue: g.value } };
      break;
    case 'QUERYPARAMETERCONDITION':
      condition = { ...base, type: g.kind, queryParameterCondition: { parameterName: g.name.trim(), parameterValue: g.value } };
      break;
    case 'IPCONDITION':
      condition = { ...base, type: g.kind, ipCondition: { ipConditionType: 'IPSPECIFIC', specificIP: g.value.trim() } };
      break;
    case 'JWTCLAIMSCONDITION':
      condition = { ...base, type: g.kind, jwtClaimsCondition: { claimUrl: g.name.trim(), attribute: g.value } };
      break;
  }
  return { conditions: [condition], limit: toThrottleLimit(g.limit) };
}

/** The fields of condition group `index` (numbered from 1 in labels), with a way to remove it. */
export function ConditionGroupFields({
  index,
  value,
  onChange,
  onRemove,
}: {
  index: number;
  value: GroupInput;
  onChange: (g: GroupInput) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const set = (patch: Partial<GroupInput>) => onChange({ ...value, ...patch });
  const named = value.kind !== 'IPCONDITION';
  const nameLabel = value.kind === 'JWTCLAIMSCONDITION' ? 'Claim' : value.kind === 'HEADERCONDITION' ? 'Header name' : 'Parameter name';
  return (
    <Card withBorder aria-label={`Condition group ${n}`} role="group">
      <Stack>
        <Group justify="space-between">
          <Title order={4}>Condition group {n}</Title>
          <Button variant="subtle" color="red" onClick={onRemove} aria-label={`Remove condition group ${n}`}>
            Remove
          </Button>
        </Group>
        <Group grow align="flex-start" wrap="wrap">
          <Select label={`Group ${n}: condition`} data={KINDS} value={value.kind} onChange={(v) => v && set({ kind: v as GroupInput['kind'] })} allowDeselect={false} />
          {named && <TextInput label={`Group ${n}: ${nameLabel.toLowerCase()}`} required value={value.name} onChange={(e) => set({ name: e.currentTarget.value })} />}
          <TextInput
            label={`Group ${n}: ${value.kind === 'IPCONDITION' ? 'IP address' : 'value'}`}
            required
            value={value.value}
            onChange={(e) => set({ value: e.currentTarget.value })}
          />
        </Group>
        <Checkbox label={`Group ${n}: applies when the condition does not match`} checked={value.invert} onChange={(e) => set({ invert: e.currentTarget.checked })} />
        <LimitFields prefix={`Group ${n}: `} value={value.limit} onChange={(limit) => set({ limit })} />
      </Stack>
    </Card>
  );
}
