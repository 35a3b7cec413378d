/**
 * The link's life table (slide 29): the arrows the slide draws, and the properties the engine
 * relies on when it carries out a step.
 */
import { describe, expect, it } from 'vitest';
import { LINK_LIFE, LINK_LIFE_INPUTS, LINK_LIFE_STATES, linkStep, type LinkLifeState } from '../../src/nat/life.ts';
import { LINK_STATES } from '../../src/nat/types.ts';

describe('link life table', () => {
  it.each([
    ['new', 'reply', 'active', ['sync']],
    ['new', 'rst', 'closing', ['sync']],
    ['active', 'rst', 'closing', ['sync']],
    ['active', 'fin-both', 'closing', ['sync']],
    ['new', 'server-dead', 'new', ['remap']],
    ['closing', 'reuse', 'gone', ['close', 'count-expired']],
    ['active', 'idle', 'gone', ['count-expired', 'close']],
    ['closing', 'master-gone', 'gone', ['close']],
  ] as const)('%s --%s--> %s %j', (state, input, to, actions) => {
    expect(linkStep(state, input)).toEqual({ to, actions });
  });

  it('ignores what a state does not list: a second reply, a RST on a closing link, a remap once answered', () => {
    expect(linkStep('active', 'reply')).toBeUndefined();
    expect(linkStep('closing', 'rst')).toBeUndefined();
    expect(linkStep('closing', 'fin-both')).toBeUndefined();
    expect(linkStep('active', 'server-dead')).toBeUndefined();
    expect(linkStep('active', 'reuse')).toBeUndefined();
  });

  it('gone is final; every way to it runs the linkClosed hooks exactly once; no other step does', () => {
    for (const input of LINK_LIFE_INPUTS) expect(linkStep('gone', input)).toBeUndefined();
    for (const s of LINK_LIFE_STATES) {
      for (const input of LINK_LIFE_INPUTS) {
        const st = linkStep(s, input);
        if (st === undefined) continue;
        const closes = st.actions.filter((a) => a === 'close').length;
        expect(closes, `${s} --${input}-->`).toBe(st.to === 'gone' ? 1 : 0);
      }
    }
  });

  it('every live state can end by idle timeout and by the master saying so; only a new link moves', () => {
    for (const s of LINK_STATES) {
      expect(linkStep(s, 'idle')?.to).toBe('gone');
      expect(linkStep(s, 'master-gone')?.to).toBe('gone');
    }
    const remaps = LINK_LIFE_STATES.filter((s) => linkStep(s, 'server-dead') !== undefined);
    expect(remaps).toEqual(['new']);
  });

  it("the table's live states are the link table's stored states", () => {
    expect(Object.keys(LINK_LIFE).filter((s) => s !== 'gone')).toEqual([...LINK_STATES]);
    const reached = new Set<LinkLifeState>();
    for (const s of LINK_LIFE_STATES) for (const i of LINK_LIFE_INPUTS) { const st = linkStep(s, i); if (st) reached.add(st.to); }
    expect([...reached].sort()).toEqual(['active', 'closing', 'gone', 'new']);
  });
});
