import {describe, expect, it} from 'vitest'

import {ConfigError} from '../src/errors.js'
import {parseSource} from '../src/source.js'

describe('parseSource', () => {
  it.each([
    ['s3://bucket', {provider: 's3', bucket: 'bucket', prefix: '', url: 's3://bucket'}],
    ['S3://bucket/key', {provider: 's3', bucket: 'bucket', prefix: 'key', url: 's3://bucket/key'}],
    ['s3://my.bucket-1/dicom/2024/', {provider: 's3', bucket: 'my.bucket-1', prefix: 'dicom/2024/'}],
    ['s3://bucket/', {provider: 's3', bucket: 'bucket', prefix: '', url: 's3://bucket'}],
    ['s3://bucket/a b/ü/$x', {provider: 's3', bucket: 'bucket', prefix: 'a b/ü/$x'}],
    ['Gs://my_bucket.example.com/p', {provider: 'gs', bucket: 'my_bucket.example.com', prefix: 'p', url: 'gs://my_bucket.example.com/p'}],
    ['az://account1/container-1', {provider: 'az', account: 'account1', bucket: 'container-1', prefix: ''}],
    ['AZ://account1/container-1/dir/x', {provider: 'az', account: 'account1', bucket: 'container-1', prefix: 'dir/x', url: 'az://account1/container-1/dir/x'}],
    ['  s3://bucket/k  ', {bucket: 'bucket', prefix: 'k'}],
    ['https://account1.blob.core.windows.net/container-1/dicom', {provider: 'az', account: 'account1', bucket: 'container-1', prefix: 'dicom', url: 'az://account1/container-1/dicom', endpoint: 'https://account1.blob.core.windows.net'}],
    ['HTTPS://Account1.BLOB.core.usgovcloudapi.net/container-1', {provider: 'az', account: 'account1', url: 'az://account1/container-1', endpoint: 'https://account1.blob.core.usgovcloudapi.net'}],
    ['https://account1.blob.core.chinacloudapi.cn/container-1/a%20b/', {provider: 'az', prefix: 'a b/', url: 'az://account1/container-1/a b/', endpoint: 'https://account1.blob.core.chinacloudapi.cn'}],
  ])('accepts %s', (input, expected) => {
    expect(parseSource(input)).toMatchObject(expected)
  })

  it.each([
    ['bucket/key', /does not start with a scheme/],
    ['http://bucket/key', /scheme "http" is not supported/],
    ['https://example.com/container', /scheme "https" is not supported/],
    ['https://account1.blob.core.windows.net', /container is missing/],
    ['https://account1.blob.core.windows.net/container-1?sv=2024&sig=abc', /query strings/],
    ['https://account1.blob.core.windows.net/container-1/%zz', /percent-encoding/],
    ['https://account1.blob.core.windows.net/c1', /"https:\/\/account1\.blob\.core\.windows\.net\/c1": an Azure container name is 3 to 63/],
    ['s3://', /bucket name is missing/],
    ['s3://Bucket', /lower-case/],
    ['s3://ab', /3 to 63/],
    ['s3://a'.padEnd(70, 'a'), /3 to 63/],
    ['s3://-bucket', /begins and ends/],
    ['s3://bucket-', /begins and ends/],
    ['s3://my..bucket', /adjacent dots/],
    ['s3://192.168.1.1', /IP address/],
    ['s3://xn--bucket', /xn--/],
    ['s3://bucket--ol-s3', /reserved/],
    ['s3://my_bucket', /lower-case/],
    ['s3://bucket/key*', /wildcard/],
    ['s3://bucket/ke?y', /query strings/],
    ['s3://bucket//x', /starts with "\/"/],
    ['s3://bucket/a\u0001b', /control character/],
    ['s3://bucket/' + 'k'.repeat(1025), /1024 bytes/],
    ['gs://goog-bucket', /goog/],
    ['gs://ab', /3 to 63/],
    ['az://Account/container', /storage account/],
    ['az://account1', /container is missing/],
    ['az://account1/Con', /container name/],
    ['az://account1/a--b', /container name/],
    ['az://ab/container', /storage account/],
  ])('rejects %s', (input, message) => {
    let error: unknown
    try {
      parseSource(input)
    } catch (error_) {
      error = error_
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).exitCode).toBe(3)
    expect((error as ConfigError).code).toBe('BAD_SOURCE')
    expect((error as ConfigError).message).toMatch(message)
    expect((error as ConfigError).suggestions.length).toBeGreaterThan(0)
  })
})

describe('parseSource: near misses say what was meant', () => {
  it.each([
    ['s3:/acme-imaging/dicom', 's3://acme-imaging/dicom'],
    ['S3:acme-imaging', 's3://acme-imaging'],
    ['https://acme-imaging.s3.amazonaws.com/dicom/a.dcm', 's3://acme-imaging/dicom/a.dcm'],
    ['https://acme-imaging.s3.eu-west-1.amazonaws.com/dicom', 's3://acme-imaging/dicom'],
    ['https://s3.us-east-1.amazonaws.com/acme-imaging/dicom', 's3://acme-imaging/dicom'],
    ['https://storage.googleapis.com/acme-scans/dicom', 'gs://acme-scans/dicom'],
  ])('%s: did you mean %s', (input, meant) => {
    expect(() => parseSource(input)).toThrow(expect.objectContaining({code: 'BAD_SOURCE', exitCode: 3, suggestions: expect.arrayContaining([`Did you mean ${meant} ?`])}))
  })
})
