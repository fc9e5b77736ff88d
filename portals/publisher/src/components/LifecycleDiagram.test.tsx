import { MantineProvider } from '@mantine/core';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { LifecycleDiagram } from './LifecycleDiagram';

afterEach(cleanup);

describe('the lifecycle diagram', () => {
  it('marks the current state and shows where each state leads', () => {
    render(
      <MantineProvider>
        <LifecycleDiagram current="Published" />
      </MantineProvider>,
    );
    const states = within(screen.getByRole('list', { name: 'Lifecycle map' })).getAllByRole('listitem');
    const names = ['Created', 'Prototyped', 'Published', 'Blocked', 'Deprecated', 'Retired'];
    expect(states).toHaveLength(names.length);
    names.forEach((name, i) => expect(states[i]?.textContent?.startsWith(name)).toBe(true));
    const current = states.filter((s) => s.getAttribute('aria-current') === 'step');
    expect(current.map((s) => s.textContent)).toHaveLength(1);
    expect(current[0]?.textContent).toContain('Block → Blocked');
    expect(states[5]?.textContent).toContain('final');
  });
});
