import { AppShell, Burger, Button, Group, NavLink, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import type { ReactNode } from 'react';
import { NavLink as RouterLink, Outlet, useLocation } from 'react-router';
import { useSession, useSignIn, useUser } from '../auth/context';

export interface NavItem {
  label: string;
  to: string;
  /** Shown only to users holding this scope. */
  scope?: string;
}

/** Signed-in user's name and "Sign out", or "Sign in". */
export function UserMenu() {
  const user = useUser();
  const session = useSession();
  const signIn = useSignIn();
  if (!user) {
    return (
      <Button variant="light" onClick={signIn}>
        Sign in
      </Button>
    );
  }
  return (
    <Group gap="sm">
      <Text size="sm" aria-label="Signed in as">
        {user.username}
      </Text>
      <Button variant="default" onClick={() => void session.signOut()}>
        Sign out
      </Button>
    </Group>
  );
}

/** Header with the portal's name, navigation on the left, the page in the middle. */
export function PortalShell({ title, nav, children }: { title: string; nav: NavItem[]; children?: ReactNode }) {
  const [opened, { toggle }] = useDisclosure();
  const user = useUser();
  const location = useLocation();
  const visible = nav.filter((n) => !n.scope || user?.scopes.includes(n.scope));
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="sm">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Title order={1} size="h4">
              {title}
            </Title>
          </Group>
          <UserMenu />
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        {visible.map((n) => (
          <NavLink key={n.to} component={RouterLink} to={n.to} label={n.label} active={location.pathname.startsWith(n.to)} />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>{children ?? <Outlet />}</AppShell.Main>
    </AppShell>
  );
}
