/**
 * The IAM policy grammar as data (bucket policies, key policies, identity policies). Pure types:
 * the AWS provider and the evaluator share them; nothing here talks to AWS.
 */

/** A string or an array of strings: IAM accepts both wherever a list is allowed. */
export type StringOrList = string | string[]

export type PrincipalBlock = '*' | Record<string, StringOrList>

export interface IamStatement {
  Sid?: string
  Effect: 'Allow' | 'Deny'
  Principal?: PrincipalBlock
  NotPrincipal?: PrincipalBlock
  Action?: StringOrList
  NotAction?: StringOrList
  Resource?: StringOrList
  NotResource?: StringOrList
  /** operator -> condition key -> value(s) */
  Condition?: Record<string, Record<string, unknown>>
}

export interface IamPolicy {
  Version?: string
  Id?: string
  /** A single statement object is valid IAM; keep whichever form the document used. */
  Statement: IamStatement | IamStatement[]
}
