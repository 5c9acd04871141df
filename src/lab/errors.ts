/** A lab operation that cannot go on; the message says what to do next. */
export class LabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabError';
  }
}
