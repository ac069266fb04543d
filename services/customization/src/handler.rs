//! gRPC handlers of `idic.v1.CustomizationService`.

use std::sync::Arc;

use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_server::CustomizationService;
use idic_runtime::paging::{Page, finish_page};
use idic_runtime::{ApiError, FieldViolation};
use tonic::{Request, Response, Status};

use crate::domain::Component;
use crate::store::CustomizationStore;

pub struct CustomizationHandler {
    store: Arc<dyn CustomizationStore>,
}

impl CustomizationHandler {
    pub fn new(store: Arc<dyn CustomizationStore>) -> Self {
        CustomizationHandler { store }
    }
}

#[tonic::async_trait]
impl CustomizationService for CustomizationHandler {
    async fn list_components(
        &self,
        request: Request<pb::ListComponentsRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        let message = request.get_ref();
        let mut violations = Vec::new();
        let slot = match pb::Slot::try_from(message.slot) {
            Ok(pb::Slot::Unspecified) => None,
            Ok(slot) => Some(slot as i32),
            Err(_) => {
                violations.push(FieldViolation::new("slot", "is not a known slot"));
                None
            }
        };
        let page = Page::parse(message.page.as_ref(), "page")
            .map_err(|violation| violations.push(violation))
            .ok();
        let (Some(page), true) = (page, violations.is_empty()) else {
            return Err(ApiError::InvalidArgument(violations).into());
        };
        let components = self
            .store
            .components(slot, page.after.as_deref(), page.fetch_limit())
            .await
            .map_err(ApiError::internal)?;
        let (components, page) = finish_page(&page, components, |component| {
            component.component_id.clone()
        });
        Ok(Response::new(pb::ListComponentsResponse {
            components: components.into_iter().map(component_to_proto).collect(),
            page: Some(page),
        }))
    }
}

fn component_to_proto(component: Component) -> pb::Component {
    pb::Component {
        component_id: component.component_id,
        slot: component.slot,
        name: component.name,
        description: component.description,
        cost: Some(pb::Money {
            currency: component.cost_currency,
            minor_units: component.cost_minor,
        }),
        available: component.available,
    }
}
