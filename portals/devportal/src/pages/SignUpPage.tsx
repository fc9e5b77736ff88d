import { Alert, Button, Group, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ApiError, ErrorNotice, useSignIn, useUser } from '@apim/shared';

/**
 * WSO2 Identity Server's self-registration call, which WSO2's Developer Portal uses too. It is not one of the
 * API-M REST APIs our OpenAPI documents describe, so its small body is typed here.
 */
const SELF_SIGN_UP = '/api/identity/user/v1.0/me';

async function signUp(username: string, password: string): Promise<void> {
  const r = await fetch(SELF_SIGN_UP, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: { username, password, claims: [] }, properties: [] }),
  });
  if (!r.ok) throw ApiError.from(r, await r.json().catch(() => undefined));
}

/** `/sign-up`: a visitor makes their own account (a subscriber: applications and subscriptions), then signs in. */
export function SignUpPage() {
  const user = useUser();
  const signIn = useSignIn();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const create = useMutation({ mutationFn: () => signUp(username.trim(), password) });
  const mismatch = again !== '' && again !== password;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!mismatch) create.mutate();
  };
  if (user) return <Text>You are signed in as {user.username}.</Text>;
  if (create.isSuccess) {
    return (
      <Stack>
        <Title order={2}>Account created</Title>
        <Alert color="teal" title={`Welcome, ${username.trim()}`}>
          Sign in with your new account to create applications and subscribe to APIs.
        </Alert>
        <Group>
          <Button onClick={signIn}>Sign in</Button>
        </Group>
      </Stack>
    );
  }
  return (
    <Stack maw={480}>
      <Title order={2}>Create an account</Title>
      <form onSubmit={submit} aria-label="Create an account">
        <Stack>
          <TextInput
            label="Username"
            description="3 to 30 characters, no spaces"
            required
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.currentTarget.value)}
          />
          <PasswordInput
            label="Password"
            description="5 to 30 characters, no spaces"
            required
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
          />
          <PasswordInput
            label="Password again"
            required
            autoComplete="new-password"
            value={again}
            onChange={(e) => setAgain(e.currentTarget.value)}
            error={mismatch ? 'The passwords differ' : undefined}
          />
          {create.isError && <ErrorNotice error={create.error} title="The account was not created" />}
          <Group>
            <Button type="submit" loading={create.isPending} disabled={mismatch}>
              Create account
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
