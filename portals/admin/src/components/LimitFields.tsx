import { Group, NumberInput, Select } from '@mantine/core';
import type { AdminComponents } from '@apim/shared';

export type ThrottleLimit = AdminComponents['schemas']['ThrottleLimit'];

/** A quota as the form edits it: how much, per how long. */
export interface LimitInput {
  kind: 'REQUESTCOUNTLIMIT' | 'BANDWIDTHLIMIT';
  amount: number | string;
  dataUnit: 'KB' | 'MB' | 'GB';
  unitTime: number | string;
  timeUnit: 'sec' | 'min' | 'hour' | 'day';
}

export const DEFAULT_LIMIT: LimitInput = { kind: 'REQUESTCOUNTLIMIT', amount: 100, dataUnit: 'MB', unitTime: 1, timeUnit: 'min' };

/** WSO2's `ThrottleLimit` for the input. */
export function toThrottleLimit(l: LimitInput): ThrottleLimit {
  const base = { timeUnit: l.timeUnit, unitTime: Number(l.unitTime) };
  return l.kind === 'BANDWIDTHLIMIT'
    ? { type: 'BANDWIDTHLIMIT', bandwidth: { ...base, dataAmount: Number(l.amount), dataUnit: l.dataUnit } }
    : { type: 'REQUESTCOUNTLIMIT', requestCount: { ...base, requestCount: Number(l.amount) } };
}

/** The quota's fields, labelled with `prefix` when a form holds several. */
export function LimitFields({ value, onChange, prefix = '' }: { value: LimitInput; onChange: (l: LimitInput) => void; prefix?: string }) {
  const set = (patch: Partial<LimitInput>) => onChange({ ...value, ...patch });
  return (
    <Group grow align="flex-start" wrap="wrap">
      <Select
        label={`${prefix}Quota type`}
        value={value.kind}
        onChange={(v) => v && set({ kind: v as LimitInput['kind'] })}
        allowDeselect={false}
        data={[
          { value: 'REQUESTCOUNTLIMIT', label: 'Request count' },
          { value: 'BANDWIDTHLIMIT', label: 'Bandwidth' },
        ]}
      />
      <NumberInput
        label={value.kind === 'BANDWIDTHLIMIT' ? `${prefix}Data amount` : `${prefix}Request count`}
        required
        min={1}
        value={value.amount}
        onChange={(v) => set({ amount: v })}
      />
      {value.kind === 'BANDWIDTHLIMIT' && (
        <Select
          label={`${prefix}Data unit`}
          value={value.dataUnit}
          onChange={(v) => v && set({ dataUnit: v as LimitInput['dataUnit'] })}
          allowDeselect={false}
          data={['KB', 'MB', 'GB']}
        />
      )}
      <NumberInput label={`${prefix}Unit time`} required min={1} value={value.unitTime} onChange={(v) => set({ unitTime: v })} />
      <Select
        label={`${prefix}Time unit`}
        value={value.timeUnit}
        onChange={(v) => v && set({ timeUnit: v as LimitInput['timeUnit'] })}
        allowDeselect={false}
        data={[
          { value: 'sec', label: 'Second' },
          { value: 'min', label: 'Minute' },
          { value: 'hour', label: 'Hour' },
          { value: 'day', label: 'Day' },
        ]}
      />
    </Group>
  );
}
