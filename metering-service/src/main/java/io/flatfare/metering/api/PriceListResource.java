package io.flatfare.metering.api;

import io.flatfare.metering.api.RateCardViews.TierPriceView;
import io.flatfare.metering.service.RateCardService;
import io.flatfare.support.api.ListView;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/**
 * {@code GET /prices}: per tier, the flat price in force now and the prices scheduled after it. Read-only and without
 * a token, like a published price list: gateways read it to tell each request's price before any compute. It names
 * no account and no usage.
 */
@Path("/prices")
@Produces(MediaType.APPLICATION_JSON)
public class PriceListResource {

    private final RateCardService rateCard;

    PriceListResource(RateCardService rateCard) {
        this.rateCard = rateCard;
    }

    @GET
    public ListView<TierPriceView> prices() {
        return ListView.of(rateCard.priceList().stream().map(TierPriceView::of).toList());
    }
}
