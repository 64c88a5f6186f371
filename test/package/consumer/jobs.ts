// A Task job module of the consumer project.
export function double(n: number): number {
  return n * 2;
}
