import { Anchor, Button, Checkbox, Group, Stack, Text, TextInput, Textarea, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { ErrorNotice, unwrap } from '@apim/shared';
import { useAdmin } from '../client';
import { ConditionGroupFields, NEW_GROUP, toConditionalGroup, type GroupInput } from '../components/ConditionGroupFields';
import { DEFAULT_LIMIT, LimitFields, toThrottleLimit, type LimitInput } from '../components/LimitFields';
import { LEVELS, type Level } from './RateLimitingPoliciesPage';

/** WSO2's document names the body's content type as a header parameter of these operations. */
const JSON_BODY = { header: { 'Content-Type': 'application/json' } };

/** `/throttling/:level/add`: a new policy of that level; advanced ones may hold condition groups. The input stays on a refusal. */
export function AddPolicyPage() {
  const { level: raw = 'advanced' } = useParams();
  const level: Level = raw in LEVELS ? (raw as Level) : 'advanced';
  const api = useAdmin();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [description, setDescription] = useState('');
  const [limit, setLimit] = useState<LimitInput>(DEFAULT_LIMIT);
  const [groups, setGroups] = useState<GroupInput[]>([]);
  const [stopOnQuota, setStopOnQuota] = useState(true);
  const add = useMutation({
    mutationFn: async () => {
      const common = {
        policyName: name.trim(),
        displayName: displayName.trim() || name.trim(),
        description,
        isDeployed: true,
        defaultLimit: toThrottleLimit(limit),
      };
      switch (level) {
        case 'advanced':
          return unwrap(
            await api.POST('/throttling/policies/advanced', {
              params: JSON_BODY,
              body: { ...common, type: 'AdvancedThrottlePolicy', conditionalGroups: groups.map(toConditionalGroup) },
            }),
          );
        case 'application':
          return unwrap(
            await api.POST('/throttling/policies/application', { params: JSON_BODY, body: { ...common, type: 'ApplicationThrottlePolicy' } }),
          );
        case 'subscription':
          return unwrap(
            await api.POST('/throttling/policies/subscription', {
              params: JSON_BODY,
              body: { ...common, type: 'SubscriptionThrottlePolicy', stopOnQuotaReach: stopOnQuota },
            }),
          );
      }
    },
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ['policies', level] });
      void navigate(`/throttling/${level}`);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  const title = `Add ${LEVELS[level].toLowerCase()} policy`;
  return (
    <Stack>
      <Anchor component={Link} to={`/throttling/${level}`} size="sm">
        ← {LEVELS[level]} policies
      </Anchor>
      <Title order={2}>{title}</Title>
      <form onSubmit={submit} aria-label={title}>
        <Stack>
          <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <TextInput label="Display name" value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} />
          <Textarea label="Description" autosize minRows={2} value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
          <Title order={3}>Default limit</Title>
          <LimitFields value={limit} onChange={setLimit} />
          {level === 'subscription' && (
            <Checkbox
              label="Stop requests when the quota is reached"
              checked={stopOnQuota}
              onChange={(e) => setStopOnQuota(e.currentTarget.checked)}
            />
          )}
          {level === 'advanced' && (
            <>
              <Title order={3}>Condition groups</Title>
              <Text size="sm">A request that matches a group's condition gets that group's limit instead of the default one.</Text>
              {groups.map((g, i) => (
                <ConditionGroupFields
                  key={i}
                  index={i}
                  value={g}
                  onChange={(next) => setGroups(groups.map((x, j) => (j === i ? next : x)))}
                  onRemove={() => setGroups(groups.filter((_, j) => j !== i))}
                />
              ))}
              <Group>
                <Button variant="default" onClick={() => setGroups([...groups, NEW_GROUP])}>
                  Add condition group
                </Button>
              </Group>
            </>
          )}
          {add.isError && <ErrorNotice error={add.error} title="The policy was not added" />}
          <Group>
            <Button type="submit" loading={add.isPending}>
              Add policy
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
