import { Stack, Title } from '@mantine/core';
import { AnalyticsPanel } from '@apim/shared';

/** `/analytics`: the platform's traffic — every API, application and gateway node. */
export function AnalyticsPage() {
  return (
    <Stack>
      <Title order={2}>Analytics</Title>
      <AnalyticsPanel scope="platform" />
    </Stack>
  );
}
