import { Button, Card, Group, Stack, Text, Title } from '@mantine/core';
import { lazy, Suspense } from 'react';
import { LoadingState, useSignIn, useUser } from '@apim/shared';
import type { TryItApi } from './TryItConsole';

// Loaded once a user is signed in: anonymous visitors do not download the console.
const TryItConsole = lazy(() => import('./TryItConsole').then((m) => ({ default: m.TryItConsole })));

/** The API page's "Try it" panel: a request through the gateway with a test key, once signed in. */
export function TryItCard({ api }: { api: TryItApi }) {
  const user = useUser();
  const signIn = useSignIn();
  const deployed = (api.endpointURLs ?? []).length > 0;
  return (
    <Card withBorder>
      <Stack>
        <Title order={3}>Try it</Title>
        {!deployed ? (
          <Text size="sm">The API is not deployed to a gateway yet, so there is nothing to call.</Text>
        ) : !user ? (
          <Group>
            <Text size="sm">Sign in to call this API through the gateway with a test key of one of your applications.</Text>
            <Button variant="light" onClick={signIn}>
              Sign in to try
            </Button>
          </Group>
        ) : (
          <Suspense fallback={<LoadingState label="Loading the console" />}>
            <TryItConsole api={api} />
          </Suspense>
        )}
      </Stack>
    </Card>
  );
}
