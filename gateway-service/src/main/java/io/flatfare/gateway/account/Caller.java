package io.flatfare.gateway.account;

/**
 * Who is calling: the account and key behind a valid API key, and the plan in force for the account.
 *
 * @param accountId the account id
 * @param apiKeyId the key's id (never the secret)
 * @param plan the account's plan
 */
public record Caller(String accountId, String apiKeyId, Plan plan) {}
