import type { Access, Grant } from '../topology/types.js';

/**
 * The role the topology gives someone the identity provider signed in: `access.people` by
 * their name, else the first of `access.groups`, in file order, that their groups include.
 * Asked at sign-in and again on every request of the session it made (auth/console-sessions.ts),
 * so both read the same rule. `groups` names the person's groups that `access.groups` lists:
 * all a session needs to keep to ask again.
 */
export function grantFor(access: Pick<Access, 'people' | 'groups'>, who: string, groups: Iterable<string>): { grant: Grant; groups: string[] } | undefined {
  const theirs = new Set(groups);
  const named = [...access.groups.keys()].filter((g) => theirs.has(g));
  const person = access.people.get(who);
  if (person) return { grant: person, groups: named };
  const first = named[0];
  return first === undefined ? undefined : { grant: access.groups.get(first)!, groups: named };
}
