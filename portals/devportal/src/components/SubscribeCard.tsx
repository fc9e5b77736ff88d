import { Anchor, Button, Card, Group, Stack, Text, Title } from '@mantine/core';
import { lazy, Suspense } from 'react';
import { Link } from 'react-router';
import { LoadingState, useHasScope, useSignIn, useUser } from '@apim/shared';

// Loaded once a user is signed in: anonymous visitors do not download the form.
const SubscribeForm = lazy(() => import('./SubscribeForm').then((m) => ({ default: m.SubscribeForm })));

/** The API page's "Subscribe" panel: an application and a business plan, once signed in. */
export function SubscribeCard({ apiId, plans }: { apiId: string; plans: string[] }) {
  const user = useUser();
  const signIn = useSignIn();
  const canSubscribe = useHasScope('apim:subscribe');
  return (
    <Card withBorder>
      <Stack>
        <Title order={3}>Subscribe</Title>
        {!user ? (
          <Group>
            <Text size="sm">Sign in to subscribe one of your applications to this API.</Text>
            <Button variant="light" onClick={signIn}>
              Sign in to subscribe
            </Button>
            <Anchor component={Link} to="/sign-up" size="sm">
              No account? Create one
            </Anchor>
          </Group>
        ) : !canSubscribe ? (
          <Text size="sm">Your account may not subscribe to APIs (it lacks the apim:subscribe scope).</Text>
        ) : plans.length === 0 ? (
          <Text size="sm">This API offers no business plan, so it takes no subscriptions.</Text>
        ) : (
          <Suspense fallback={<LoadingState label="Loading your applications" />}>
            <SubscribeForm apiId={apiId} plans={plans} />
          </Suspense>
        )}
      </Stack>
    </Card>
  );
}
