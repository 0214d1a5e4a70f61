package io.flatfare.gateway.account;

import java.util.Set;

/**
 * The limits an account's plan puts on each request, as the gateway enforces them. A null limit means "no limit".
 *
 * @param id plan id
 * @param allowedModels canonical model ids the plan may use; {@code "*"} allows every model
 * @param allowedTiers price tiers whose models the plan may use (in addition to {@code allowedModels})
 * @param requestsPerMinute rate limit, shared by every gateway replica
 * @param concurrentRequests requests in flight at once for the whole account
 * @param requestsPerMonth monthly request quota (calendar month, UTC)
 * @param maxPromptChars largest prompt (all message contents, or all prompts) in characters
 * @param maxOutputTokens the most output tokens of one request, all its {@code n} choices together: each choice may
 *     ask for this divided by {@code n} (and gets that as its cap when it asks none)
 */
public record Plan(
        String id,
        Set<String> allowedModels,
        Set<String> allowedTiers,
        Integer requestsPerMinute,
        Integer concurrentRequests,
        Long requestsPerMonth,
        Integer maxPromptChars,
        Integer maxOutputTokens) {

    public static final String ALL_MODELS = "*";

    public Plan {
        allowedModels = Set.copyOf(allowedModels);
        allowedTiers = Set.copyOf(allowedTiers);
    }

    /** Whether the plan may use the model with this canonical id and price tier. */
    public boolean allows(String modelId, String priceTier) {
        return allowedModels.contains(ALL_MODELS)
                || allowedModels.contains(modelId)
                || allowedTiers.contains(priceTier);
    }
}
