import { Badge, Group, Paper, SimpleGrid, Stack, Text } from '@mantine/core';

/**
 * WSO2's default API lifecycle: each state and the transitions that leave it (`APILifeCycle.xml`). The server
 * answers which of them the API may take now; this is the map around them.
 */
export const LIFECYCLE: { state: string; leaves: { event: string; to: string }[] }[] = [
  { state: 'Created', leaves: [{ event: 'Publish', to: 'Published' }, { event: 'Deploy as a Prototype', to: 'Prototyped' }] },
  { state: 'Prototyped', leaves: [{ event: 'Publish', to: 'Published' }, { event: 'Demote to Created', to: 'Created' }] },
  {
    state: 'Published',
    leaves: [
      { event: 'Block', to: 'Blocked' },
      { event: 'Deprecate', to: 'Deprecated' },
      { event: 'Demote to Created', to: 'Created' },
      { event: 'Deploy as a Prototype', to: 'Prototyped' },
    ],
  },
  { state: 'Blocked', leaves: [{ event: 'Re-Publish', to: 'Published' }, { event: 'Deprecate', to: 'Deprecated' }] },
  { state: 'Deprecated', leaves: [{ event: 'Retire', to: 'Retired' }] },
  { state: 'Retired', leaves: [] },
];

/** The lifecycle's states as a map, the API's own marked, each with where its transitions lead. */
export function LifecycleDiagram({ current }: { current: string }) {
  const here = current.toLowerCase();
  return (
    <SimpleGrid cols={{ base: 2, sm: 3, md: 6 }} spacing="xs" role="list" aria-label="Lifecycle map">
      {LIFECYCLE.map(({ state, leaves }) => {
        const isHere = state.toLowerCase() === here;
        return (
          <Paper key={state} withBorder p="xs" role="listitem" aria-current={isHere ? 'step' : undefined} bg={isHere ? 'var(--mantine-primary-color-light)' : undefined}>
            <Stack gap={4}>
              <Group gap={4}>
                <Text fw={700} size="sm">
                  {state}
                </Text>
                {isHere && <Badge size="xs">now</Badge>}
              </Group>
              {leaves.length ? (
                leaves.map((l) => (
                  <Text key={l.event} size="xs">
                    {l.event} → {l.to}
                  </Text>
                ))
              ) : (
                <Text size="xs">final</Text>
              )}
            </Stack>
          </Paper>
        );
      })}
    </SimpleGrid>
  );
}
